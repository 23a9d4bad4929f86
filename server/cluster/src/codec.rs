//! Extension codecs for the backfill's nodes. Our nodes are encoded as a
//! tagged JSON message (they hold a file list and two configurations, no
//! expressions); anything else goes to Ballista's codecs, which also decode
//! every buffer that does not start with our tag.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use driftlock_batch::plan::{
    ArchiveScan, ArchiveScanExec, DriftScore, DriftScoreExec, PartWrite, PartWriteExec, ScanSpec,
};
use serde::{Deserialize, Serialize};

/// Starts every buffer we encode; protobuf messages never start with a NUL
/// byte field tag, so Ballista's buffers are never taken for ours.
const TAG: &[u8] = b"\0driftlock-plan-v1\0";

/// A backfill node on the wire (logical and physical alike).
#[derive(Debug, Serialize, Deserialize)]
enum Node {
    /// The logical scan: the file list and the reading options.
    Scan(ScanSpec),
    /// The physical scan; its file list is its input (an in-memory source
    /// DataFusion's own codec carries).
    ScanExec {
        read: String,
    },
    Score {
        detector: String,
    },
    /// Both the logical and the physical writer: only the folder.
    Write {
        dir: String,
    },
}

fn encode(node: &Node, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
    buf.extend_from_slice(TAG);
    serde_json::to_writer(buf, node).map_err(|e| DataFusionError::Internal(e.to_string()))
}

/// Our node, if `buf` is one.
fn decode(buf: &[u8]) -> datafusion::error::Result<Option<Node>> {
    let Some(json) = buf.strip_prefix(TAG) else {
        return Ok(None);
    };
    serde_json::from_slice(json)
        .map(Some)
        .map_err(|e| DataFusionError::Internal(format!("driftlock plan node: {e}")))
}

fn one_input<T: Clone>(inputs: &[T]) -> datafusion::error::Result<T> {
    match inputs {
        [one] => Ok(one.clone()),
        _ => Err(DataFusionError::Internal(format!(
            "a driftlock plan node takes one input, got {}",
            inputs.len()
        ))),
    }
}

/// The logical codec: the client sends the plan to the scheduler with it.
#[derive(Debug, Default)]
pub struct DriftLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for DriftLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Extension> {
        let node: Arc<dyn datafusion::logical_expr::UserDefinedLogicalNode> = match decode(buf)? {
            Some(Node::Scan(spec)) => Arc::new(ArchiveScan::new(spec)),
            Some(Node::Score { detector }) => {
                Arc::new(DriftScore::from_json(detector, one_input(inputs)?))
            }
            Some(Node::Write { dir }) => Arc::new(PartWrite::new(dir, one_input(inputs)?)),
            Some(Node::ScanExec { .. }) => {
                return Err(DataFusionError::Internal(
                    "a physical scan in a logical plan".into(),
                ));
            }
            None => return self.inner.try_decode(buf, inputs, ctx),
        };
        Ok(Extension { node })
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> datafusion::error::Result<()> {
        let any = node.node.as_any();
        if let Some(scan) = any.downcast_ref::<ArchiveScan>() {
            return encode(&Node::Scan(scan.spec.clone()), buf);
        }
        if let Some(score) = any.downcast_ref::<DriftScore>() {
            let detector = score.detector.clone();
            return encode(&Node::Score { detector }, buf);
        }
        if let Some(write) = any.downcast_ref::<PartWrite>() {
            let dir = write.dir.clone();
            return encode(&Node::Write { dir }, buf);
        }
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        self.inner
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> datafusion::error::Result<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> datafusion::error::Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> datafusion::error::Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

/// The physical codec: the scheduler sends each stage to the executors with it.
#[derive(Debug, Default)]
pub struct DriftPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for DriftPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        match decode(buf)? {
            Some(Node::ScanExec { read }) => Ok(Arc::new(ArchiveScanExec::try_new(
                read,
                one_input(inputs)?,
            )?)),
            Some(Node::Scan(_)) => Err(DataFusionError::Internal(
                "a logical scan in a physical plan".into(),
            )),
            Some(Node::Score { detector }) => Ok(Arc::new(DriftScoreExec::try_new(
                detector,
                one_input(inputs)?,
            )?)),
            Some(Node::Write { dir }) => {
                Ok(Arc::new(PartWriteExec::try_new(dir, one_input(inputs)?)?))
            }
            None => self.inner.try_decode(buf, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> datafusion::error::Result<()> {
        if let Some(scan) = node.downcast_ref::<ArchiveScanExec>() {
            let read = scan.read_json.clone();
            return encode(&Node::ScanExec { read }, buf);
        }
        if let Some(score) = node.downcast_ref::<DriftScoreExec>() {
            let detector = score.detector_json.clone();
            return encode(&Node::Score { detector }, buf);
        }
        if let Some(write) = node.downcast_ref::<PartWriteExec>() {
            let dir = write.dir.clone();
            return encode(&Node::Write { dir }, buf);
        }
        self.inner.try_encode(node, buf, proto_converter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_tag_round_trips_and_other_buffers_are_not_ours() {
        let mut buf = Vec::new();
        encode(
            &Node::Score {
                detector: "{}".into(),
            },
            &mut buf,
        )
        .unwrap();
        assert!(
            matches!(decode(&buf).unwrap(), Some(Node::Score { detector }) if detector == "{}")
        );
        assert!(decode(b"\x0a\x03abc").unwrap().is_none());
        let mut bad = TAG.to_vec();
        bad.extend_from_slice(b"not json");
        assert!(decode(&bad).is_err());
    }
}
