//! `drift_score(query [, detector])`: a table function scoring an ad-hoc
//! query's rows, e.g.
//! `SELECT kind, count(*) FROM drift_score('SELECT stream_id, timestamp, body FROM events') GROUP BY kind`.
//!
//! The query's columns are mapped to events as a file's are (`stream_id`,
//! `timestamp`, `type`, `body`, `attributes`; other columns make up the
//! body), each stream is scored in (timestamp, partition, row) order, and
//! the rows are the flat anomaly schema. `detector` is a JSON object of
//! detector settings (`{"baseline_size": 200}`); absent ones are defaults.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use driftlock_engine::DetectorConfig;
use driftlock_engine::read::ReadOptions;

use crate::output::anomaly_schema;
use crate::plan::{DriftScoreExec, RowsToEventsExec};

/// The function's name in SQL.
pub const NAME: &str = "drift_score";

#[derive(Debug, Default)]
pub struct DriftScoreFunction;

fn text_arg(e: &Expr, what: &str) -> datafusion::error::Result<String> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)), _) => {
            Ok(s.clone())
        }
        _ => Err(DataFusionError::Plan(format!(
            "{NAME}: the {what} must be a string literal"
        ))),
    }
}

impl TableFunctionImpl for DriftScoreFunction {
    fn call_with_args(
        &self,
        args: datafusion::catalog::TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let (query, detector) = match args.exprs() {
            [q] => (text_arg(q, "query")?, "{}".to_owned()),
            [q, d] => (text_arg(q, "query")?, text_arg(d, "detector")?),
            _ => {
                return Err(DataFusionError::Plan(format!(
                    "{NAME}(query [, detector JSON]) takes one or two arguments"
                )));
            }
        };
        let config: DetectorConfig = serde_json::from_str(&detector)
            .map_err(|e| DataFusionError::Plan(format!("{NAME}: detector: {e}")))?;
        config
            .validate()
            .map_err(|e| DataFusionError::Plan(format!("{NAME}: detector: {e}")))?;
        Ok(Arc::new(DriftScoreTable {
            query,
            detector: serde_json::to_string(&config)
                .map_err(|e| DataFusionError::Internal(e.to_string()))?,
        }))
    }
}

/// The scored query, planned when the outer query is.
#[derive(Debug)]
struct DriftScoreTable {
    query: String,
    detector: String,
}

#[async_trait::async_trait]
impl TableProvider for DriftScoreTable {
    fn schema(&self) -> SchemaRef {
        anomaly_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let state = session
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| {
                DataFusionError::Internal(format!("{NAME}: not a DataFusion session"))
            })?;
        let plan = state.create_logical_plan(&self.query).await?;
        // Whatever the outer statement may do, the scored one only reads.
        super::read_only().verify_plan(&plan)?;
        let rows = state.create_physical_plan(&plan).await?;
        let events = Arc::new(RowsToEventsExec::new(rows, ReadOptions::default()));
        // The outer query's optimizer adds the repartition and sort it asks for.
        let scored: Arc<dyn ExecutionPlan> =
            Arc::new(DriftScoreExec::try_new(self.detector.clone(), events)?);
        let Some(columns) = projection else {
            return Ok(scored);
        };
        let schema = anomaly_schema();
        let exprs = columns.iter().map(|&i| {
            let name = schema.field(i).name().clone();
            let expr: Arc<dyn datafusion::physical_expr::PhysicalExpr> =
                Arc::new(Column::new(&name, i));
            (expr, name)
        });
        Ok(Arc::new(ProjectionExec::try_new(exprs, scored)?))
    }
}

#[cfg(test)]
mod tests {
    use driftlock_datasets::{GeneratorConfig, StreamKind};
    use driftlock_engine::read::ColumnMapping;
    use driftlock_kernels::CpuBackend;

    use crate::output::tests::sorted_rows as rows;
    use crate::score::{self, ScoreConfig};
    use crate::sql::tables::{Tables, session};

    /// Scoring the events table in SQL finds what `score` finds in its file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drift_score_of_a_query_finds_what_score_finds() {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("events");
        std::fs::create_dir_all(&events).unwrap();
        let file = events.join("part-0.parquet");
        let stream = GeneratorConfig::new(StreamKind::Logs, 3_000, 5)
            .with_streams(2)
            .build()
            .unwrap();
        driftlock_datasets::write::write_parquet(&file, stream, 3_000).unwrap();
        let detector =
            r#"{"baseline_size": 100, "window_size": 20, "hop_size": 5, "permutation_count": 100}"#;

        let out = dir.path().join("scored.parquet");
        let sink = crate::output::create_file_sink(Some(&out)).unwrap();
        let cfg = ScoreConfig {
            inputs: vec![file.clone()],
            read: driftlock_engine::read::ReadOptions {
                mapping: ColumnMapping::default()
                    .with_ignored("label")
                    .with_ignored("anomaly_kind"),
                ..Default::default()
            },
            detector: serde_json::from_str(detector).unwrap(),
            buffer_events: 1024,
            fdr: None,
        };
        score::run(&cfg, &CpuBackend, sink, &mut |_| {}).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&out).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        let expected = rows(&reader.map(Result::unwrap).collect::<Vec<_>>());
        assert!(expected.len() > 3, "{expected:?}");

        let ctx = session(&Tables {
            events: Some(events),
            anomalies: None,
        })
        .await
        .unwrap();
        let sql = format!(
            "SELECT * FROM drift_score('SELECT stream_id, timestamp, type, body, attributes FROM events', '{detector}')"
        );
        let got = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        assert_eq!(rows(&got), expected);

        let count = ctx
            .sql("SELECT count(*) FROM drift_score('SELECT stream_id, body FROM events WHERE false')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(count[0].num_rows(), 1);
        let dml = ctx
            .sql("SELECT * FROM drift_score('CREATE TABLE t AS SELECT 1')")
            .await;
        let refused = match dml {
            Err(e) => e.to_string(),
            Ok(df) => df.collect().await.unwrap_err().to_string(),
        };
        assert!(
            refused.contains("DDL") || refused.contains("not supported"),
            "{refused}"
        );
    }
}
