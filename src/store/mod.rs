//! TEMP STUB (replaced by the store branch)
pub mod model;
use crate::config::AppSpec;
pub use model::*;
use std::path::{Path, PathBuf};
pub struct Store;
impl Store {
    pub fn open(_p: &Path) -> Result<(Store, Snapshot), StoreError> {
        Ok((
            Store,
            Snapshot {
                apps: vec![],
                open_runs: vec![],
            },
        ))
    }
    pub fn send(&self, _w: Write) {}
    pub fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
    pub fn close(self) -> Result<(), StoreError> {
        Ok(())
    }
}
pub fn move_aside(p: &Path) -> Result<PathBuf, StoreError> {
    Ok(p.to_path_buf())
}
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("corrupt")]
    Corrupt { path: PathBuf },
    #[error("other")]
    Other,
}
pub struct Snapshot {
    pub apps: Vec<StoredApp>,
    pub open_runs: Vec<OpenRun>,
}
pub struct StoredApp {
    pub spec: AppSpec,
    pub should_run: bool,
    pub instances: Vec<InstanceCounters>,
}
pub struct InstanceCounters {
    pub index: u32,
    pub last_run: u64,
    pub restarts: u32,
    pub unstable_restarts: u32,
    pub auto_restarts: u32,
    pub manual_restarts: u32,
    pub last_exit: Option<ExitRecord>,
}
pub struct OpenRun {
    pub app: String,
    pub instance: u32,
    pub run: u64,
    pub pid: i32,
    pub pid_start_ticks: Option<u64>,
    pub started_at_ms: i64,
}
pub enum Write {
    UpsertApp { spec: AppSpec, should_run: bool },
    SetShouldRun { name: String, should_run: bool },
    DeleteApp { name: String },
    Spawn(SpawnRecord),
    Exit(ExitRecord),
    ResetCounters { name: String },
    Barrier(std::sync::mpsc::SyncSender<()>),
}
