//! Spam or not, from the words of real e-mails: the SpamAssassin corpus with Keras' text
//! classifiers, a bidirectional LSTM (the default) or 1D convolutions (`--model conv`).
//!
//! `cargo run --release --example spam_classifier -- --epochs 3 --seed 1 [--model conv]
//! [--data ../shared/data/spam_assassin]`
//!
//! The vectorizer learns its 20,000 tokens from the training messages and is saved with the
//! model (`--save spam.safetensors`): the saved model classifies raw text.

mod common;

use common::architectures;
use kiln::datasets::spam_assassin;
use ndarray::Array2;

fn main() -> std::process::ExitCode {
    common::exit_status(run())
}

fn run() -> kiln::Result<()> {
    let mut args = common::parse_args(3)?;
    args.batch_size = 32;
    if let Some(seed) = args.seed {
        kiln::set_random_seed(seed);
    }
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| "../shared/data/spam_assassin".into());
    let data = spam_assassin::load_data_from(&dir)?;
    let mut vectorizer = architectures::spam_vectorizer();
    vectorizer.adapt(&data.train.texts);
    let device = kiln::Device::new(args.device)?;
    let mut model = match args.model.as_deref().unwrap_or("bilstm") {
        "bilstm" => architectures::spam_bilstm_with(device, vectorizer)?,
        "conv" => architectures::spam_conv_with(device, vectorizer)?,
        other => {
            return Err(kiln::Error::Config {
                what: "flag --model".into(),
                message: format!("`{other}` is not a spam model; use bilstm or conv"),
            });
        }
    };
    let labels = |l: &[f32]| Array2::from_shape_vec((l.len(), 1), l.to_vec()).expect("one each");
    let x_train = model.vectorize_text(&data.train.texts)?;
    let x_test = model.vectorize_text(&data.test.texts)?;
    let (y_train, y_test) = (labels(&data.train.labels), labels(&data.test.labels));
    common::train_and_report(&mut model, (&x_train, &y_train), (&x_test, &y_test), &args)
}
