//! The one error type of kiln.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in kiln, with enough context to fix it.
///
/// Every variant names what it is about (a layer, a file, an argument) and what was received;
/// its `Display` text says what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A layer received an input whose shape it cannot take. Found when the model is built.
    Shape {
        /// The layer's name (`dense_1`).
        layer: String,
        /// What the layer accepts, in Keras' notation (`(None, 784)`).
        expected: String,
        /// What it received.
        received: String,
    },
    /// A layer, optimizer or option was configured with a value it cannot use.
    Config {
        /// What was configured (`dense: units`, `fit: batch_size`).
        what: String,
        /// Why the value is refused and what would work.
        message: String,
    },
    /// Data passed to `fit`, `evaluate` or `predict` does not fit the model or is inconsistent.
    Data {
        /// What is wrong with the data and what the model expects.
        message: String,
    },
    /// The model was used for training or evaluation before `compile`.
    NotCompiled {
        /// The method that needs a compiled model (`fit`).
        method: &'static str,
    },
    /// A device could not be created or used.
    Device {
        /// Which device was asked for.
        requested: String,
        /// Why it is not usable.
        message: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file was read but its content is not what kiln expected.
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A download failed or its content did not verify.
    Download {
        /// The address tried.
        url: String,
        /// Why it failed.
        message: String,
    },
}

/// `Result` with kiln's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn config(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            what: what.into(),
            message: message.into(),
        }
    }

    pub(crate) fn data(message: impl Into<String>) -> Self {
        Error::Data {
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape {
                layer,
                expected,
                received,
            } => write!(
                f,
                "layer `{layer}` expects input shape {expected} but received {received}; \
                 check the layer before it or the model's input shape"
            ),
            Error::Config { what, message } => write!(f, "invalid {what}: {message}"),
            Error::Data { message } => write!(f, "invalid data: {message}"),
            Error::NotCompiled { method } => write!(
                f,
                "`{method}` needs a compiled model: call `model.compile(optimizer, loss, metrics)` first"
            ),
            Error::Device { requested, message } => {
                write!(f, "device `{requested}` is not usable: {message}")
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Format { path, message } => write!(f, "{}: {message}", path.display()),
            Error::Download { url, message } => write!(f, "download of {url} failed: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_error_names_layer_and_both_shapes() {
        let e = Error::Shape {
            layer: "dense_1".into(),
            expected: "(None, 784)".into(),
            received: "(None, 10)".into(),
        };
        let text = e.to_string();
        assert!(text.contains("dense_1"), "{text}");
        assert!(text.contains("(None, 784)"), "{text}");
        assert!(text.contains("(None, 10)"), "{text}");
    }

    #[test]
    fn io_error_keeps_its_source() {
        let e = Error::io("/nope", std::io::Error::other("boom"));
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().starts_with("/nope"));
    }
}
