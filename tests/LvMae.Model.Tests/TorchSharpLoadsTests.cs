using TorchSharp;
using static TorchSharp.torch;

namespace LvMae.Model.Tests;

/// <summary>The native libtorch loads on this host (after the build's GLIBCXX fix) and really trains.</summary>
public class TorchSharpLoadsTests
{
    [Fact]
    public void Tiny_transformer_trains_and_its_loss_falls()
    {
        manual_seed(7);
        var layer = nn.TransformerEncoderLayer(d_model: 16, nhead: 2, dim_feedforward: 32, dropout: 0.0);
        var head = nn.Linear(16, 1);
        var model = nn.Sequential(("encoder", layer), ("head", head));
        var optimizer = optim.AdamW(model.parameters(), lr: 1e-2);
        using var x = randn(6, 4, 16);            // (seq, batch, features)
        using var y = x.sum(dim: -1, keepdim: true).tanh();

        float Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(model.forward(x), y);
            loss.backward();
            optimizer.step();
            return loss.item<float>();
        }

        var first = Step();
        float last = first;
        for (var i = 0; i < 40; i++) last = Step();

        Assert.True(last < first * 0.5f, $"loss did not fall: first {first}, last {last}");
    }

    [Fact]
    public void Device_resolution_falls_back_to_cpu_without_cuda()
    {
        var device = TorchDevice.Resolve("auto");
        Assert.Equal(cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU, device.type);
        Assert.Equal(DeviceType.CPU, TorchDevice.Resolve("cpu").type);
    }
}
