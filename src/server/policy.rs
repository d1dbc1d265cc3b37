//! Decides, with the policy in force, whether the verified caller may read the report asked
//! for; on allow, the request carries the deciding grant (and the query with the grant's pins)
//! onwards, so a policy reload never changes a request in flight.

use std::sync::Arc;

use http::Request;

use crate::auth::Identity;
use crate::error::Error;
use crate::params::GetReportQuery;
use crate::policy::{Decision, PolicyStore, Principal};

/// The policy check for [`super::check::CheckLayer`].
pub(super) fn decide<B>(
    store: Arc<PolicyStore>,
) -> impl Fn(&mut Request<B>) -> Result<(), Error> + Clone {
    move |request| {
        let extensions = request.extensions_mut();
        // The auth and params layers run first; without their results nothing may pass. The
        // identity is taken out: the principal carries it on (a request never holds more
        // than three extensions, so their map never grows).
        let identity = extensions.remove::<Arc<Identity>>().ok_or(Error::Internal(
            "no verified identity before the policy check",
        ))?;
        let query = extensions
            .get_mut::<GetReportQuery>()
            .ok_or(Error::Internal("no parsed query before the policy check"))?;
        match store.current().decide(&identity, query) {
            Decision::Allow {
                grant,
                query: allowed,
            } => {
                // The grant's form of the query (its pins) replaces the caller's in place.
                *query = allowed;
                extensions.insert(Principal { identity, grant });
                Ok(())
            }
            Decision::Deny(denial) => Err(denial.into()),
        }
    }
}
