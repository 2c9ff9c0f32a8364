//! Downloads with a progress bar, written atomically.

use crate::error::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Read;

/// The body at `url`, with a byte progress bar on standard error.
pub(crate) fn fetch(url: &str) -> Result<Vec<u8>> {
    let fail = |message: String| Error::Download {
        url: url.to_string(),
        message,
    };
    let agent = ureq::Agent::config_builder()
        .timeout_connect(Some(std::time::Duration::from_secs(10)))
        .timeout_global(Some(std::time::Duration::from_secs(300)))
        .build()
        .new_agent();
    let response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bar = ProgressBar::new(length.unwrap_or(0));
    bar.set_style(
        // a constant template, parsed whenever a download test runs
        ProgressStyle::with_template("{msg} {bar:20} {bytes}/{total_bytes}")
            .expect("a valid template"),
    );
    bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
    let mut body = Vec::new();
    bar.wrap_read(response.into_body().into_reader())
        .read_to_end(&mut body)
        .map_err(|e| fail(e.to_string()))?;
    bar.finish_and_clear();
    Ok(body)
}
