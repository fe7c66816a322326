//! Both fleets at once: how many green and blue instances serve (or are alive).
//!
//! One named value instead of tuples, whose order would otherwise differ from
//! one caller to the next. How traffic divides between the fleets is an
//! assumption, so `Fleets::green_traffic_bp` lives in [`crate::assumptions`].

use serde::{Deserialize, Serialize};

/// Instance counts of the green (new) and blue (old) fleets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fleets {
    pub green: u32,
    pub blue: u32,
}

impl Fleets {
    pub fn new(green: u32, blue: u32) -> Fleets {
        Fleets { green, blue }
    }

    /// Blue alone: the endpoint at rest, before an update or after a rollback.
    pub fn blue_only(blue: u32) -> Fleets {
        Fleets { green: 0, blue }
    }
}
