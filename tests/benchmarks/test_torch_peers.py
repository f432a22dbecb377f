"""The PyTorch peers are the same networks as the astrozoo builders."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import astrozoo.applications as apps  # noqa: E402
from benchmarks import run, torch_peers  # noqa: E402
from benchmarks._worker import MODELS, build_keras_model  # noqa: E402


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_counts_equal(name):
    spec = MODELS[name]
    model = build_keras_model(name, spec)
    peer = torch_peers.build(name, spec["shape"], spec["classes"])
    trainable, total = torch_peers.count_params(peer)
    assert trainable == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert total == model.count_params()


def test_lenet5_same_function():
    model = apps.lenet5(classifier_activation=None)
    peer = torch_peers.LeNet5().eval()
    k = model.get_weights()
    with torch.no_grad():
        peer.conv1.weight.copy_(torch.from_numpy(k[0].transpose(3, 2, 0, 1)))
        peer.conv1.bias.copy_(torch.from_numpy(k[1]))
        peer.conv2.weight.copy_(torch.from_numpy(k[2].transpose(3, 2, 0, 1)))
        peer.conv2.bias.copy_(torch.from_numpy(k[3]))
        # Keras flattens (h, w, c), PyTorch (c, h, w).
        fc1 = k[4].reshape(7, 7, 16, 256).transpose(2, 0, 1, 3).reshape(784, 256)
        peer.fc1.weight.copy_(torch.from_numpy(fc1.T.copy()))
        peer.fc1.bias.copy_(torch.from_numpy(k[5]))
        for layer, (w, b) in ((peer.fc2, k[6:8]), (peer.fc3, k[8:10])):
            layer.weight.copy_(torch.from_numpy(w.T.copy()))
            layer.bias.copy_(torch.from_numpy(b))
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype="float32")
    want = model.predict(x, verbose=0)
    got = peer(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_darknet19_same_function():
    model = apps.darknet19(input_shape=(32, 32, 3), classes=7, classifier_activation=None)
    peer = torch_peers.Darknet19(3, 7).eval()
    rng = np.random.default_rng(1)
    convs = [m for m in peer.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in peer.modules() if isinstance(m, torch_peers.CiannaGroupNorm)]
    kconvs = [l for l in model.layers if l.__class__.__name__ == "Conv2D"]
    knorms = [l for l in model.layers if l.__class__.__name__ == "CiannaGroupNorm"]
    assert len(convs) == len(kconvs) == 19 and len(norms) == len(knorms) == 18
    with torch.no_grad():
        for tl, kl in zip(convs, kconvs):
            kernel, bias = kl.get_weights()
            tl.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1)))
            tl.bias.copy_(torch.from_numpy(bias))
        for tl, kl in zip(norms, knorms):
            gamma = rng.uniform(0.5, 1.5, tl.groups).astype("float32")
            beta = rng.normal(0, 0.1, tl.groups).astype("float32")
            kl.set_weights([gamma, beta])
            tl.gamma.copy_(torch.from_numpy(gamma))
            tl.beta.copy_(torch.from_numpy(beta))
    x = rng.random((2, 32, 32, 3), dtype="float32")
    want = model.predict(x, verbose=0)
    got = peer(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)


def test_runner_helpers():
    assert run.parse_impl("jax:steps_per_execution=8,jit_compile=false,threads=1") == (
        "jax",
        {"steps_per_execution": 8, "jit_compile": False, "threads": 1},
    )
    with pytest.raises(ValueError, match="Unknown implementation 'mxnet'"):
        run.parse_impl("mxnet")
    with pytest.raises(ValueError, match="expected key=value"):
        run.parse_impl("jax:fast")
    rows = {"pytorch": {"impl": "pytorch", "trainable_params": 10, "params": 12},
            "jax": {"impl": "jax", "trainable_params": 10, "params": 11}}
    with pytest.raises(AssertionError, match="PyTorch peer has 10 / 12"):
        run.check_param_counts("lenet5", rows)
    table = run.format_table(
        [
            {
                "model": "lenet5",
                "results": {
                    "jax": dict(train_img_s=10.0, infer_img_s=40.0, train_ratio_vs_pytorch=1.25,
                                infer_ratio_vs_pytorch=0.5, train_gflops=1.0, infer_gflops=2.0, peak_rss_mb=100),
                },
                "cianna_published": run.CIANNA_PUBLISHED["lenet5"],
            }
        ],
        peak=20.0,
    )
    assert "1.25" in table and "10%" in table and "630000" in table


@pytest.mark.slow
def test_runner_end_to_end(tmp_path):
    out = tmp_path / "r.json"
    report = run.main(["--quick", "--only", "lenet5", "--repeats", "2", "--impls", "pytorch", "tensorflow",
                       "--no-plugins", "--json", str(out)])
    res = report["models"][0]["results"]
    assert res["tensorflow"]["train_img_s"] > 0 and res["pytorch"]["infer_img_s"] > 0
    assert 0 < res["tensorflow"]["train_ratio_vs_pytorch"] < 100
    assert out.exists()
    with pytest.raises(SystemExit):
        run.main(["--json", str(out)])  # never overwrites without --force


def test_gpu_precision_reports_skipped_without_gpu():
    if any(run.gpus_seen(b) for b in run.KERAS_BACKENDS):
        pytest.skip("a GPU is present: the real benchmark would run (python -m benchmarks.run --gpu-precision)")
    logs = []
    out = run.gpu_precision(quick=True, log=logs.append, backends=("tensorflow",))
    assert out == {"skipped": "skipped: no GPU visible to tensorflow on this machine"}
    assert any("skipped" in line for line in logs)


def test_gpu_sizes_reach_the_workers():
    from benchmarks._worker import TorchSession, model_spec

    spec = model_spec({"model": "resnet18", "batch": 4, "infer_batch": 3})
    assert (spec["batch"], spec["infer_batch"], spec["shape"]) == (4, 3, MODELS["resnet18"]["shape"])
    session = TorchSession({"model": "resnet18", "steps": 2, "batch": 4, "infer_batch": 3})
    assert session.x.shape[0] == 8 and session.xi.shape[0] == 12  # steps * batch, 4 inference batches
    assert session.train() > 0 and session.infer() > 0
    with pytest.raises(ValueError, match="amp=True needs device=cuda"):
        TorchSession({"model": "lenet5", "steps": 1, "amp": True})
