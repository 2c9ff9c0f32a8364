//! One Conv2D and one MaxPooling2D forward + backward at the MNIST convnet's sizes (batch 128),
//! on each CPU backend: Burn's `conv2d` and `MaxPool2d` (channels first) against kiln's
//! `ops::conv2d_nhwc` and `ops::max_pool2d_nhwc` (channels last, what kiln's layers run). Each
//! figure is the median of RUNS timings, in milliseconds; the backward pass is that of
//! `sum(y * g)` for a fixed random `g`.
//!
//! `cargo bench --bench conv -- [RUNS] [flex|ndarray] [conv1|conv2|pool1|pool2]...` (both
//! backends and every case unless some are named)

use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use kiln::ops::{conv2d_nhwc, max_pool2d_nhwc};
use std::time::Instant;

fn time<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    f();
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[runs / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(20);
    let wanted = |backend: &str| {
        let named = ["flex", "ndarray"];
        !args.iter().any(|a| named.contains(&a.as_str())) || args.iter().any(|a| a == backend)
    };
    // kiln's CPU devices, so that glibc is tuned as kiln tunes it for training.
    let mut devices = vec![("flex", kiln::backend::Device::cpu())];
    if cfg!(feature = "ndarray") {
        devices.push(("ndarray", kiln::backend::Device::cpu_ndarray()));
    }
    let cases = ["conv1", "conv2", "pool1", "pool2"];
    let named: Vec<&str> = cases
        .into_iter()
        .filter(|c| args.iter().any(|a| a == c))
        .collect();
    let case = |name: &str| named.is_empty() || named.iter().any(|c| name.starts_with(c));
    println!("runs={runs} batch=128 (forward, then backward of sum(y * g))");
    for (backend, device) in devices.into_iter().filter(|(b, _)| wanted(b)) {
        let device = device.expect("a CPU backend").as_burn().clone().autodiff();
        conv(backend, &device, runs, &case);
        pool(backend, &device, runs, &case);
    }
}

/// Separate leaves in each layout, so that neither run pays for a permutation.
fn leaf(t: Tensor<4>, grad: bool, device: &Device) -> Tensor<4> {
    let t = Tensor::<4>::from_data(t.into_data(), device);
    if grad { t.require_grad() } else { t }
}

fn conv(backend: &str, device: &Device, runs: usize, case: &dyn Fn(&str) -> bool) {
    {
        let device = device.clone();
        for (name, [n, h, c, f], grad_x) in [
            ("conv1 28x28x1 -> 32", [128, 28, 1, 32], false),
            ("conv2 13x13x32 -> 64", [128, 13, 32, 64], true),
        ]
        .into_iter()
        .filter(|(name, ..)| case(name))
        {
            let leaf = |t, grad| leaf(t, grad, &device);
            let x = Tensor::<4>::random([n, h, h, c], Distribution::Default, &device);
            let x_first = leaf(x.clone().permute([0, 3, 1, 2]), grad_x);
            let x = leaf(x, grad_x);
            let w = Tensor::<4>::random([3, 3, c, f], Distribution::Default, &device);
            let w_first = leaf(w.clone().permute([3, 2, 0, 1]), true);
            let w = leaf(w, true);
            let b = Tensor::<1>::random([f], Distribution::Default, &device).require_grad();
            let g = Tensor::<4>::random([n, h - 2, h - 2, f], Distribution::Default, &device);
            let g_first = leaf(g.clone().permute([0, 3, 1, 2]), false);
            let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
            let burn = time(runs, || {
                let y = conv2d(
                    x_first.clone(),
                    w_first.clone(),
                    Some(b.clone()),
                    options.clone(),
                );
                let _ = (y * g_first.clone()).sum().backward();
            });
            let kiln = time(runs, || {
                let y = conv2d_nhwc(x.clone(), w.clone(), b.clone(), options.clone());
                let _ = (y.expect("shapes agree") * g.clone()).sum().backward();
            });
            let forward = time(runs, || {
                let _ = conv2d_nhwc(x.clone(), w.clone(), b.clone(), options.clone());
            });
            // what the timings above spend outside the convolution: y · g, its sum, their
            // backward passes
            let y = conv2d_nhwc(x.clone(), w.clone(), b.clone(), options.clone())
                .expect("shapes agree")
                .detach();
            let glue = time(runs, || {
                let _ = (y.clone().require_grad() * g.clone()).sum().backward();
            });
            println!(
                "{backend} {name}: burn conv2d {burn:.2} ms, kiln conv2d_nhwc {kiln:.2} ms \
                 (forward alone {forward:.2} ms, backward {:.2} ms; y·g, sum and their \
                 backward {glue:.2} ms), kiln/burn {:.2}",
                kiln - forward - glue,
                kiln / burn
            );
        }
    }
}

fn pool(backend: &str, device: &Device, runs: usize, case: &dyn Fn(&str) -> bool) {
    let pool = MaxPool2dConfig::new([2, 2]).init();
    for (name, [n, h, c]) in [
        ("pool1 26x26x32", [128, 26, 32]),
        ("pool2 11x11x64", [128, 11, 64]),
    ]
    .into_iter()
    .filter(|(name, _)| case(name))
    {
        let x = Tensor::<4>::random([n, h, h, c], Distribution::Default, device);
        let x_first = leaf(x.clone().permute([0, 3, 1, 2]), true, device);
        let x = leaf(x, true, device);
        let g = Tensor::<4>::random([n, h / 2, h / 2, c], Distribution::Default, device);
        let g_first = leaf(g.clone().permute([0, 3, 1, 2]), false, device);
        let burn = time(runs, || {
            let y = pool.forward(x_first.clone());
            let _ = (y * g_first.clone()).sum().backward();
        });
        let kiln = time(runs, || {
            let y = max_pool2d_nhwc(x.clone(), [2, 2], [2, 2]).expect("the kernel fits");
            let _ = (y * g.clone()).sum().backward();
        });
        let constant = x.clone().detach();
        let forward = time(runs, || {
            let _ = max_pool2d_nhwc(constant.clone(), [2, 2], [2, 2]).expect("the kernel fits");
        });
        println!(
            "{backend} {name}: burn max_pool2d {burn:.2} ms, kiln max_pool2d_nhwc {kiln:.2} ms (forward alone {forward:.2} ms), kiln/burn {:.2}",
            kiln / burn
        );
    }
}
