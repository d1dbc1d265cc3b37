//! Validates the GetReport parameters and puts their canonical form in the request's extensions.
//! A request that fails here never reaches iCasework.

use http::Request;

use super::route::Route;
use crate::error::Error;
use crate::params::{parse, Limits};

/// The parameter check for [`super::check::CheckLayer`].
pub(super) fn validate<B>(limits: Limits) -> impl Fn(&mut Request<B>) -> Result<(), Error> + Clone {
    move |request| {
        let path_id = request
            .extensions()
            .get::<Route>()
            .and_then(|r| r.path_report_id.as_deref());
        let query = parse(request.uri().query(), path_id, &limits)?;
        request.extensions_mut().insert(query);
        Ok(())
    }
}
