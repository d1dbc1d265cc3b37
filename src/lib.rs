//! casegate: the gateway in front of Civica iCasework's GetReport API.

pub mod params;
