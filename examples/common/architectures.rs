//! The examples' models, written with kiln's builders. `models/mnist_dense.json` and
//! `models/mnist_cnn.json` are the same models as files (`Model::to_json`); `tests/models.rs`
//! checks that the two stay equal.

use kiln::prelude::*;

/// Keras' MNIST dense classifier: 784 → 512 relu → 10 softmax, RMSprop(1e-3).
pub fn mnist_dense(device: Device) -> kiln::Result<Model> {
    Sequential::new()
        .name("mnist_dense")
        .input([784])
        .add(Dense::new(512).activation(Relu))
        .add(Dense::new(10).activation(Softmax))
        .device(device)
        .compile(
            Optimizer::rmsprop(1e-3),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
}

/// Keras' MNIST convnet: two 3×3 convolutions with 2×2 max pooling, dropout 0.5, a softmax
/// classifier; Adam(1e-3).
pub fn mnist_cnn(device: Device) -> kiln::Result<Model> {
    Sequential::new()
        .name("mnist_cnn")
        .input([28, 28, 1])
        .add(Conv2D::new(32, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Conv2D::new(64, 3).activation(Relu))
        .add(MaxPooling2D::new(2))
        .add(Flatten::new())
        .add(Dropout::new(0.5))
        .add(Dense::new(10).activation(Softmax))
        .device(device)
        .compile(
            Optimizer::adam(1e-3),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
}

/// A small residual network for MNIST, written with the Functional API: a 3×3 convolution and
/// 2×2 max pooling, one residual block of 32 filters (`relu(x + bn(conv(relu(bn(conv(x))))))`,
/// the shortcut an `Add`), 2×2 max pooling, dropout 0.5 and a softmax classifier; Adam(1e-3).
pub fn mnist_resnet(device: Device) -> kiln::Result<Model> {
    let image = Input::new([28, 28, 1]).name("image");
    let x = Conv2D::new(32, 3).activation(Relu).apply(&image)?;
    let x = MaxPooling2D::new(2).apply(&x)?;
    let x = residual_block(&x, 32)?;
    let x = MaxPooling2D::new(2).apply(&x)?;
    let x = Flatten::new().apply(&x)?;
    let x = Dropout::new(0.5).apply(&x)?;
    let digit = Dense::new(10).activation(Softmax).apply(&x)?;
    Functional::new([&image], [&digit])?
        .name("mnist_resnet")
        .device(device)
        .compile(
            Optimizer::adam(1e-3),
            Loss::CategoricalCrossentropy,
            &[Metric::Accuracy],
        )
}

/// `relu(x + bn(conv(relu(bn(conv(x))))))`, the convolutions keeping the size (`same`) and the
/// `filters` of `x`.
fn residual_block(x: &SymbolicTensor, filters: usize) -> kiln::Result<SymbolicTensor> {
    let conv = || {
        Conv2D::new(filters, 3)
            .padding(Padding::Same)
            .use_bias(false)
    };
    let h = conv().apply(x)?;
    let h = BatchNormalization::new().apply(&h)?;
    let h = ActivationLayer::new(Relu).apply(&h)?;
    let h = conv().apply(&h)?;
    let h = BatchNormalization::new().apply(&h)?;
    let h = Add::new().apply([&h, x])?;
    ActivationLayer::new(Relu).apply(&h)
}

/// The vectorizer of the spam models: 20,000 tokens, 200 per message (not yet adapted).
pub fn spam_vectorizer() -> TextVectorization {
    TextVectorization::new()
        .max_tokens(20_000)
        .output_sequence_length(200)
}

/// Keras' text classifier with a bidirectional LSTM: TextVectorization(20000, 200) →
/// Embedding(20000, 64) → Bidirectional(LSTM(32)) → Dense(1, sigmoid); Adam(1e-3), binary
/// crossentropy.
pub fn spam_bilstm(device: Device) -> kiln::Result<Model> {
    spam_bilstm_with(device, spam_vectorizer())
}

/// [`spam_bilstm`] with an adapted vectorizer.
pub fn spam_bilstm_with(device: Device, vectorizer: TextVectorization) -> kiln::Result<Model> {
    spam_bidirectional("spam_bilstm", LSTM::new(32), device, vectorizer)
}

/// [`spam_bilstm`] with `GRU(32)` (Keras' `reset_after` form) in place of the LSTM, for the
/// sequence bench.
pub fn spam_bigru_with(device: Device, vectorizer: TextVectorization) -> kiln::Result<Model> {
    spam_bidirectional("spam_bigru", GRU::new(32), device, vectorizer)
}

fn spam_bidirectional(
    name: &str,
    recurrent: impl Into<kiln::layers::Layer>,
    device: Device,
    vectorizer: TextVectorization,
) -> kiln::Result<Model> {
    Sequential::new()
        .name(name)
        .input([200])
        .add(vectorizer)
        .add(Embedding::new(20_000, 64))
        .add(Bidirectional::new(recurrent))
        .add(Dense::new(1).activation(Sigmoid))
        .device(device)
        .compile(
            Optimizer::adam(1e-3),
            Loss::BinaryCrossentropy,
            &[Metric::Accuracy],
        )
}

/// Keras' text classifier with 1D convolutions: TextVectorization(20000, 200) →
/// Embedding(20000, 128) → Dropout(0.5) → two Conv1D(128, 7, strides 3, relu) →
/// GlobalMaxPooling1D → Dense(128, relu) → Dropout(0.5) → Dense(1, sigmoid); Adam(1e-3).
pub fn spam_conv(device: Device) -> kiln::Result<Model> {
    spam_conv_with(device, spam_vectorizer())
}

/// [`spam_conv`] with an adapted vectorizer.
pub fn spam_conv_with(device: Device, vectorizer: TextVectorization) -> kiln::Result<Model> {
    Sequential::new()
        .name("spam_conv")
        .input([200])
        .add(vectorizer)
        .add(Embedding::new(20_000, 128))
        .add(Dropout::new(0.5))
        .add(Conv1D::new(128, 7).strides(3).activation(Relu))
        .add(Conv1D::new(128, 7).strides(3).activation(Relu))
        .add(GlobalMaxPooling1D::new())
        .add(Dense::new(128).activation(Relu))
        .add(Dropout::new(0.5))
        .add(Dense::new(1).activation(Sigmoid))
        .device(device)
        .compile(
            Optimizer::adam(1e-3),
            Loss::BinaryCrossentropy,
            &[Metric::Accuracy],
        )
}

/// Tomorrow's maximum temperature from 14 days of 4 weather columns: LSTM(32) → Dense(1);
/// Adam(1e-3), mean squared error, mean absolute error reported.
pub fn weather_lstm(device: Device) -> kiln::Result<Model> {
    weather_recurrent("weather_lstm", LSTM::new(32), device)
}

/// [`weather_lstm`] with `GRU(32)` in place of the LSTM, for the sequence bench.
pub fn weather_gru(device: Device) -> kiln::Result<Model> {
    weather_recurrent("weather_gru", GRU::new(32), device)
}

fn weather_recurrent(
    name: &str,
    recurrent: impl Into<kiln::layers::Layer>,
    device: Device,
) -> kiln::Result<Model> {
    Sequential::new()
        .name(name)
        .input([14, 4])
        .add(recurrent)
        .add(Dense::new(1))
        .device(device)
        .compile(
            Optimizer::adam(1e-3),
            Loss::MeanSquaredError,
            &[Metric::Mae],
        )
}

/// The weather LSTM with its normalization inside, for the `kiln` command on the raw CSV
/// (`--window 14`): the window columns normalized (their `Normalization` adapted to the training
/// rows), the forecast brought back to °C (an inverted `Normalization` adapted to the target).
pub fn weather_lstm_normalized(device: Device) -> kiln::Result<Model> {
    Sequential::new()
        .name("weather_lstm_normalized")
        .input([14, 4])
        .add(kiln::layers::Normalization::new())
        .add(LSTM::new(32))
        .add(Dense::new(1))
        .add(kiln::layers::Normalization::new().invert(true))
        .device(device)
        .compile(
            Optimizer::adam(1e-3),
            Loss::MeanSquaredError,
            &[Metric::Mae],
        )
}

/// The two-input model of `functional_two_inputs`: the top and bottom halves of an image
/// (`top`, `bottom`, 392 pixels each) through one shared encoder (Dense 128 relu), concatenated,
/// Dense 64 relu, then the digit (`digit`, 10 softmax) and whether it is 5 or more (`big`, one
/// sigmoid).
pub fn two_halves() -> kiln::Result<Functional> {
    let top = Input::new([14 * 28]).name("top");
    let bottom = Input::new([14 * 28]).name("bottom");
    let encoder = Dense::new(128)
        .activation(Relu)
        .name("half_encoder")
        .shared();
    let both = Concatenate::new().apply([&encoder.apply(&top)?, &encoder.apply(&bottom)?])?;
    let h = Dense::new(64).activation(Relu).apply(&both)?;
    let digit = Dense::new(10).activation(Softmax).name("digit").apply(&h)?;
    let big = Dense::new(1).activation(Sigmoid).name("big").apply(&h)?;
    Ok(Functional::new([&top, &bottom], [&digit, &big])?.name("two_halves"))
}
