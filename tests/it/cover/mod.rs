//! Heartbeats, maintenance windows and on-call changes from chat (issue 16, 5-7): a job's
//! silence opens one incident however many processes watch, on a controlled clock; alerts
//! for a service under maintenance open nothing and page nobody until the window ends; an
//! override made in Discord changes `warroom oncall` and who the engine pages, and whoever
//! comes on call is told once.
//!
//! The rig is `reach::Rig`: the use cases on a `ManualClock`, the escalation engine driven
//! by `Engine::tick`, warroom's HTTP router on 127.0.0.1; the timer engines are driven by
//! `Timers::tick`, one per simulated process, each on a store of its own.

mod heartbeats;
mod maintenance;
mod oncall;

use warroom::ops::Ops;
use warroom::ops::timers::{Timers, handlers};

use crate::reach::Rig;

/// Another process on the rig's database and clock: its own store and timer engine.
pub async fn another_process(rig: &Rig) -> (Ops, Timers) {
    let store = warroom::store::connect(&rig.ops.config().database)
        .await
        .unwrap();
    let ops = Ops::new(store, rig.ops.config().clone(), rig.clock.clone());
    let timers = Timers::new(ops.clone(), handlers());
    (ops, timers)
}
