//! The `rollback` operation: plan, preview and steps.
use super::{OpContext, OpError, Preview, Request};
use std::sync::Arc;

pub async fn prepare(ctx: Arc<OpContext>, request: Request) -> Result<Preview, OpError> {
    let _ = (ctx, request);
    Err(OpError::Usage("rollback: not implemented yet".into()))
}
