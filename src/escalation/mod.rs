//! Who gets paged, when: on-call schedules, escalation policies and their pure planner,
//! target resolution, dedup keys, the dry run, the `[escalation]` settings, and the durable
//! engine (`engine`) that fires steps and sends pages from the store's outbox. Only `engine`
//! does I/O or reads the clock.

pub mod engine;
pub mod policy;
pub mod schedule;
mod settings;

pub use engine::{Engine, Pagers, Pass};
pub use policy::{
    Directory, Level, MAX_REPEAT, PlannedPage, Policy, Reach, Recipient, SimulatedStep, Simulation,
    Step, Target, TargetParseError, Unreachable, dedup_key, simulate,
};
pub use schedule::{
    Cover, Gap, Override, Period, Rotation, Schedule, Shift, format_in_zone, parse_instant,
    resolve_local,
};
pub use settings::{
    DEFAULT_FAILURES_BEFORE_NEXT_LEVEL, DEFAULT_MAX_IN_FLIGHT, DEFAULT_PAGE_LEASE,
    EscalationSettings,
};
