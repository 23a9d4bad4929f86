//! `driftlock keys`: create, list and revoke API keys in the server's database
//! directly (the server need not run).

use anyhow::{Context, bail};
use driftlock_service::auth::{self, NewKey};
use driftlock_store::Store;
use driftlock_store::keys::{self, Plan, Role};

use super::serve::ConfigArgs;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (shown once).
    Create {
        #[command(flatten)]
        common: ConfigArgs,
        /// `admin` or `stream`.
        #[arg(long, default_value = "stream")]
        role: String,
        /// The stream a `stream` key is bound to.
        #[arg(long)]
        stream: Option<String>,
        #[arg(long, default_value = "")]
        name: String,
        /// free, standard, pro or enterprise [default: the config's default_plan].
        #[arg(long)]
        plan: Option<String>,
        /// Requests per minute, overriding the plan's.
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        common: ConfigArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id.
    Revoke {
        #[command(flatten)]
        common: ConfigArgs,
        id: String,
    },
}

fn open(common: &ConfigArgs) -> anyhow::Result<(Store, driftlock_service::ServeConfig)> {
    let config = common.load()?;
    let store = Store::open(&config.database_path(), config.sync)
        .with_context(|| format!("opening {}", config.database_path().display()))?;
    Ok((store, config))
}

pub fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create {
            common,
            role,
            stream,
            name,
            plan,
            rate_limit,
        } => {
            let (store, config) = open(&common)?;
            let role = Role::parse(&role)
                .with_context(|| format!("unknown role `{role}` (admin or stream)"))?;
            let plan = match plan {
                Some(p) => Plan::parse(&p).with_context(|| format!("unknown plan `{p}`"))?,
                None => config.default_plan,
            };
            let new = NewKey {
                name,
                role,
                stream_id: stream,
                plan,
                rate_limit_per_minute: rate_limit,
            };
            let (record, key) = store.with_conn(|c| {
                auth::create_key(c, new, None).map_err(|e| anyhow::anyhow!("{e}"))
            })?;
            eprintln!(
                "created {} ({} key{}); the key is shown once:",
                record.id,
                record.role.as_str(),
                record
                    .stream_id
                    .as_deref()
                    .map(|s| format!(" for stream `{s}`"))
                    .unwrap_or_default()
            );
            println!("{key}");
        }
        KeysCommand::List { common, json } => {
            let (store, _) = open(&common)?;
            let all = store.with_conn(|c| keys::list(c))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!(
                    "{:<22} {:<7} {:<20} {:<11} {:<9} {:<26} name",
                    "id", "role", "stream", "plan", "limit", "revoked"
                );
                for k in all {
                    println!(
                        "{:<22} {:<7} {:<20} {:<11} {:<9} {:<26} {}",
                        k.id,
                        k.role.as_str(),
                        k.stream_id.as_deref().unwrap_or("-"),
                        k.plan.as_str(),
                        k.rate_limit_per_minute
                            .map(|l| l.to_string())
                            .unwrap_or_else(|| "plan".into()),
                        k.revoked_at.as_deref().unwrap_or("-"),
                        k.name
                    );
                }
            }
        }
        KeysCommand::Revoke { common, id } => {
            let (store, _) = open(&common)?;
            store.with_conn(|c| -> anyhow::Result<()> {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let Some(key) = keys::get(&tx, &id)? else {
                    bail!("no key `{id}`")
                };
                if key.revoked_at.is_some() {
                    bail!("key `{id}` is already revoked");
                }
                if key.role == Role::Admin && keys::active_admins(&tx)? <= 1 {
                    bail!("`{id}` is the last active admin key; create another admin key first");
                }
                keys::revoke(&tx, &id, &driftlock_store::time::now_rfc3339())?;
                tx.commit()?;
                Ok(())
            })?;
            eprintln!("revoked {id}");
        }
    }
    Ok(())
}
