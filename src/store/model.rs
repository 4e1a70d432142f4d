use crate::record::Cause;
pub struct SpawnRecord {
    pub app: String,
    pub instance: u32,
    pub run: u64,
    pub pid: i32,
    pub pid_start_ticks: Option<u64>,
    pub started_at_ms: i64,
    pub restarts: u32,
    pub trigger: SpawnTrigger,
}
pub enum SpawnTrigger {
    Start,
    AutoRestart,
    ManualRestart,
}
#[derive(Clone)]
pub struct ExitRecord {
    pub app: String,
    pub instance: u32,
    pub run: u64,
    pub pid: Option<i32>,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub cause: Cause,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub core_dumped: bool,
    pub unstable: bool,
    pub sigkill_needed: bool,
    pub next_delay_ms: Option<u64>,
    pub error: Option<String>,
    pub rss_last_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub oom_confidence: Option<String>,
    pub leftovers_killed: u32,
    pub stderr_tail: Option<String>,
}
