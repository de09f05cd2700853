//! The emulator's own tests, one binary: payload conformance against serenity's types, Discord's
//! rules, the driver, and a real serenity client through every gateway fault.

mod conformance;
mod driver;
mod enforcement;
mod guild_features;
mod interactions;
mod real_client;
mod sessions;
mod support;
