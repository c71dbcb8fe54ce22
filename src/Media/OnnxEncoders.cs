using System.Buffers;
using Microsoft.ML.OnnxRuntime;

namespace LvMae.Media;

/// <summary>Settings shared by the ONNX encoders (resnet18 and model files).</summary>
public sealed record EncoderOptions
{
    public static EncoderOptions Default { get; } = new();

    /// <summary>"auto" or "cpu": the CPU (the ONNX Runtime package referenced is the CPU build); "cuda" / "cuda:N" are refused
    /// with <see cref="MediaErrorKind.EncoderFailed"/>.</summary>
    public string Device { get; init; } = "auto";
    /// <summary>
    /// ONNX Runtime intra-op threads per inference; 0 = ONNX Runtime's choice (all physical cores). Several jobs at once
    /// each with every core oversubscribe the machine: <see cref="MediaThreadBudget"/> computes a count that fits.
    /// </summary>
    public int IntraOpThreads { get; init; }
    /// <summary>Most frames per inference call; null = the encoder's default (resnet18: 8; model files with a dynamic batch: 32).</summary>
    public int? BatchFrames { get; init; }
    /// <summary>Overrides the encoder's default frames per segment.</summary>
    public int? FramesPerSegment { get; init; }
    /// <summary>Model files only: square input side when the model's own is dynamic (default 224).</summary>
    public int? FrameSize { get; init; }
    /// <summary>Model files only: input = (pixel * PixelScale - Mean[c]) / Std[c]. Defaults give pixels in [0, 1].</summary>
    public float PixelScale { get; init; } = 1f / 255f;
    public float[] Mean { get; init; } = [0f, 0f, 0f];
    public float[] Std { get; init; } = [1f, 1f, 1f];
}

internal static class OnnxSupport
{
    /// <summary>Session options for <paramref name="options"/>' device; returns the device used: always "cpu", since this
    /// project references the CPU build of ONNX Runtime (no CUDA execution provider), so "cuda" is refused.</summary>
    public static (SessionOptions Options, string Device) CreateOptions(EncoderOptions options, string input)
    {
        var device = (options.Device ?? "auto").Trim().ToLowerInvariant();
        if (!device.StartsWith("cuda", StringComparison.Ordinal) && device is not ("auto" or "cpu"))
            throw new ArgumentException($"unknown device '{options.Device}': use auto, cpu, cuda or cuda:N");
        if (device.StartsWith("cuda:", StringComparison.Ordinal) && !int.TryParse(device[5..], out _))
            throw new ArgumentException($"bad CUDA device '{options.Device}'");
        if (device.StartsWith("cuda", StringComparison.Ordinal))
            throw new MediaException(input, MediaErrorKind.EncoderFailed,
                "CUDA was asked for but this ONNX Runtime build has no CUDA execution provider (LvMae.Media references the CPU package, Microsoft.ML.OnnxRuntime)");

        var session = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (options.IntraOpThreads > 0) session.IntraOpNumThreads = options.IntraOpThreads;
        // No busy-waiting between operators: on a shared machine (ffmpeg decoding beside us, other jobs) spinning
        // threads doubled the CPU per frame here (100 ms vs 45 ms for ResNet-18) and slowed the wall time too.
        session.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        session.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        return (session, "cpu");
    }

    public static InferenceSession Open(string path, SessionOptions options, string input) => Load(() => new InferenceSession(path, options), input);

    public static InferenceSession Open(byte[] model, SessionOptions options, string input) => Load(() => new InferenceSession(model, options), input);

    private static InferenceSession Load(Func<InferenceSession> create, string input)
    {
        try { return create(); }
        catch (OnnxRuntimeException e)
        {
            throw new MediaException(input, MediaErrorKind.EncoderFailed, $"ONNX Runtime cannot load the model: {e.Message}", e);
        }
    }
}

/// <summary>
/// ResNet-18 trained on ImageNet, from the ONNX files in the Microsoft.ML.DnnImageFeaturizer.ResNet18 NuGet package
/// (nothing is downloaded at run time), fed exactly as ML.NET's DnnFeaturizeImage feeds them (planar RGB, 0-255,
/// 224x224); the 512-d pooled features of the sampled frames are mean-pooled per segment.
/// The package's models are fixed at batch 1 and split in two (ResNetPreprocess.onnx, then ResNet18.onnx). Here the
/// network's batch dimension is made dynamic at load (<see cref="OnnxModels.WithDynamicBatch"/>, in memory) and the
/// preprocessing (RGB to BGR, minus a mean image) is read from its model file and done in C#
/// (<see cref="ResNetPreprocessing"/>), so frames of several segments run as one batch through one session: the same
/// features as the packaged pair run one frame at a time (tests bound the difference). Thread-safe (ONNX Runtime's Run is).
/// </summary>
public sealed class ResNet18Encoder : ISegmentEncoder
{
    public const int InputSize = 224;
    public const int FeatureDim = 512;
    /// <summary>
    /// Default frames per segment. About 30 ms of CPU a frame (docs/BENCHMARKS.md, media): 2 frames x 24 segments is
    /// ~1.5 s of CPU per 2-minute video, less than decoding it at 720p. Override with EncoderOptions.FramesPerSegment.
    /// </summary>
    public const int DefaultFrames = 2;
    /// <summary>
    /// Frames per inference call unless <see cref="EncoderOptions.BatchFrames"/> says otherwise: CPU per frame is within
    /// a few percent of larger batches (docs/BENCHMARKS.md, media), while ONNX Runtime's arena keeps ~7 MB per batch
    /// frame of activations for the session's life.
    /// </summary>
    public const int DefaultBatchFrames = 8;

    private const string PrepFile = "ResNetPrepOnnx/ResNetPreprocess.onnx";
    private const string NetFile = "ResNet18Onnx/ResNet18.onnx";
    private readonly ResNetPreprocessing _prep;
    private readonly InferenceSession _net;
    private readonly string _netInput, _netOutput;
    private readonly int _frames;

    public ResNet18Encoder(EncoderOptions? options = null)
    {
        options ??= EncoderOptions.Default;
        if (options.BatchFrames is < 1) throw new ArgumentOutOfRangeException(nameof(options), options.BatchFrames, "BatchFrames must be at least 1");
        var dir = FindModelDirectory()
                  ?? throw new MediaException("resnet18", MediaErrorKind.EncoderFailed,
                      "the ResNet-18 ONNX files were not found (DnnImageModels/ next to the application, or the Microsoft.ML.DnnImageFeaturizer.ResNet18 package in the NuGet cache; set LVMAE_RESNET18_DIR to point elsewhere)");
        ModelDirectory = dir;
        byte[] network;
        try
        {
            _prep = ResNetPreprocessing.FromModel(File.ReadAllBytes(Path.Combine(dir, PrepFile)));
            network = OnnxModels.WithDynamicBatch(File.ReadAllBytes(Path.Combine(dir, NetFile)));
        }
        catch (InvalidDataException e)
        {
            throw new MediaException("resnet18", MediaErrorKind.EncoderFailed, $"the packaged ONNX files in {dir} are not as expected: {e.Message}", e);
        }
        if (_prep.Size != InputSize)
            throw new MediaException("resnet18", MediaErrorKind.EncoderFailed, $"ResNetPreprocess.onnx expects {_prep.Size}x{_prep.Size} frames, not {InputSize}x{InputSize}");
        var (sessionOptions, device) = OnnxSupport.CreateOptions(options, "resnet18");
        using (sessionOptions) _net = OnnxSupport.Open(network, sessionOptions, "resnet18");
        Device = device;
        _netInput = _net.InputMetadata.Keys.Single();
        _netOutput = _net.OutputMetadata.Keys.Single();
        if (_net.InputMetadata[_netInput].Dimensions[0] != -1 || _net.OutputMetadata[_netOutput].Dimensions[0] != -1)
        {
            _net.Dispose();
            throw new MediaException("resnet18", MediaErrorKind.EncoderFailed, "the batch dimension of ResNet18.onnx could not be made dynamic");
        }
        _frames = options.FramesPerSegment ?? DefaultFrames;
        MaxBatchFrames = options.BatchFrames ?? DefaultBatchFrames;
    }

    /// <summary>Folder holding ResNetPrepOnnx/ and ResNet18Onnx/.</summary>
    public string ModelDirectory { get; }

    public string Name => "resnet18";
    public string Version => "resnet18-mlnet-dnnimagefeaturizer-0.23.1/224/planar-rgb255/meanpool";
    public int Dimension => FeatureDim;
    public string Device { get; }
    public int FrameSize => InputSize;
    public int DefaultFramesPerSegment => _frames;
    public int MaxBatchFrames { get; }

    public static string? FindModelDirectory()
    {
        var candidates = new List<string?>
        {
            Environment.GetEnvironmentVariable("LVMAE_RESNET18_DIR"),
            Path.Combine(AppContext.BaseDirectory, "DnnImageModels"),
            Path.Combine(Path.GetDirectoryName(typeof(ResNet18Encoder).Assembly.Location) ?? "", "DnnImageModels"),
        };
        var nuget = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                    ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var package = Path.Combine(nuget, "microsoft.ml.dnnimagefeaturizer.resnet18");
        if (Directory.Exists(package))
            candidates.AddRange(Directory.GetDirectories(package).OrderDescending(StringComparer.Ordinal).Select(v => Path.Combine(v, "tools", "DnnImageModels")));
        return candidates.FirstOrDefault(d => !string.IsNullOrEmpty(d) && File.Exists(Path.Combine(d, PrepFile)) && File.Exists(Path.Combine(d, NetFile)));
    }

    /// <summary>Every frame of every segment, <see cref="MaxBatchFrames"/> at a time; each segment's row is the mean of its frames' features.</summary>
    public float[] Encode(IReadOnlyList<SegmentFrames> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var total = 0;
        foreach (var s in segments)
        {
            if (s.Size != InputSize) throw new ArgumentException($"resnet18 needs {InputSize}x{InputSize} frames, got {s.Size}x{s.Size}");
            if (s.Count < 1) throw new ArgumentException("a segment needs at least one frame");
            total += s.Count;
        }
        var output = new float[segments.Count * FeatureDim];
        var perFrame = _prep.FloatsPerFrame;
        var capacity = Math.Min(total, MaxBatchFrames);
        var input = ArrayPool<float>.Shared.Rent(capacity * perFrame);
        var owners = new int[capacity];
        try
        {
            var (segment, frame) = (0, 0);
            while (segment < segments.Count)
            {
                var n = 0;
                for (; n < capacity && segment < segments.Count; n++)
                {
                    _prep.Write(segments[segment].Frame(frame), input.AsSpan(n * perFrame, perFrame));
                    owners[n] = segment;
                    if (++frame == segments[segment].Count) (segment, frame) = (segment + 1, 0);
                }
                var features = Run(input.AsMemory(0, n * perFrame), n);
                // Summed in frame order, then divided: the same arithmetic as one frame per call.
                for (var k = 0; k < n; k++)
                {
                    var row = output.AsSpan(owners[k] * FeatureDim, FeatureDim);
                    var feature = features.AsSpan(k * FeatureDim, FeatureDim);
                    for (var i = 0; i < FeatureDim; i++) row[i] += feature[i];
                }
            }
        }
        finally { ArrayPool<float>.Shared.Return(input); }
        for (var s = 0; s < segments.Count; s++)
        {
            var row = output.AsSpan(s * FeatureDim, FeatureDim);
            for (var i = 0; i < FeatureDim; i++) row[i] /= segments[s].Count;
        }
        return output;
    }

    /// <summary>One inference call over <paramref name="frames"/> preprocessed frames: their 512-d features, row-major.</summary>
    private float[] Run(Memory<float> input, int frames)
    {
        try
        {
            using var tensor = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, input, [frames, 3, InputSize, InputSize]);
            using var run = new RunOptions();
            using var pooled = _net.Run(run, [_netInput], [tensor], [_netOutput]);
            var values = pooled[0].GetTensorDataAsSpan<float>();
            if (values.Length != frames * FeatureDim)
                throw new MediaException("resnet18", MediaErrorKind.EncoderFailed, $"the network returned {values.Length} values for {frames} frames");
            return values.ToArray();
        }
        catch (OnnxRuntimeException e)
        {
            throw new MediaException("resnet18", MediaErrorKind.EncoderFailed, $"inference failed: {e.Message}", e);
        }
    }

    public void Dispose() => _net.Dispose();
}

/// <summary>
/// A user-supplied ONNX model. Rank-4 input ([N,3,H,W] or [N,H,W,3]) = a frame model, applied per frame and mean-pooled
/// per segment; rank-5 input ([N,3,T,H,W] or [N,T,3,H,W]) = a clip model, applied once per segment. The first output,
/// flattened per item, is the embedding. Pixels are fed as (p * PixelScale - Mean[c]) / Std[c] (default [0, 1]).
/// Thread-safe (ONNX Runtime's Run is).
/// </summary>
public sealed class OnnxModelEncoder : ISegmentEncoder
{
    private readonly InferenceSession _session;
    private readonly string _input, _output, _path;
    private readonly bool _clip, _channelsLast, _timeFirst;
    private readonly int _clipFrames;
    private readonly float _scale;
    private readonly float[] _mean, _std;

    public OnnxModelEncoder(string path, EncoderOptions? options = null)
    {
        options ??= EncoderOptions.Default;
        _path = path;
        if (!File.Exists(path)) throw new MediaException(path, MediaErrorKind.FileNotFound, "model file not found");
        if (!string.Equals(Path.GetExtension(path), ".onnx", StringComparison.OrdinalIgnoreCase))
            throw new MediaException(path, MediaErrorKind.EncoderFailed,
                "only ONNX model files (.onnx) are supported: TorchScript (.pt/.pth) cannot be loaded because LvMae.Media does not depend on TorchSharp; export the model with torch.onnx.export");
        if (options.Mean.Length != 3 || options.Std.Length != 3 || options.Std.Any(s => s == 0))
            throw new ArgumentException("Mean and Std need three values each, Std non-zero");
        _scale = options.PixelScale;
        _mean = options.Mean;
        _std = options.Std;

        var (sessionOptions, device) = OnnxSupport.CreateOptions(options, path);
        using (sessionOptions) _session = OnnxSupport.Open(path, sessionOptions, path);
        Device = device;
        try
        {
            var (name, meta) = _session.InputMetadata.First();
            _input = name;
            _output = _session.OutputMetadata.Keys.First();
            if (meta.ElementType != typeof(float))
                throw new MediaException(path, MediaErrorKind.EncoderFailed, $"model input '{name}' is {meta.ElementType.Name}; float32 frames are required");
            var d = meta.Dimensions;
            int h, w;
            switch (d.Length)
            {
                case 4 when d[1] == 3: (h, w) = (d[2], d[3]); break;
                case 4 when d[3] == 3: (h, w) = (d[1], d[2]); _channelsLast = true; break;
                case 5 when d[1] == 3: _clip = true; _clipFrames = d[2]; (h, w) = (d[3], d[4]); break;
                case 5 when d[2] == 3: _clip = true; _timeFirst = true; _clipFrames = d[1]; (h, w) = (d[3], d[4]); break;
                default:
                    throw new MediaException(path, MediaErrorKind.EncoderFailed,
                        $"model input '{name}' has shape [{string.Join(",", d)}]: expected frames [N,3,H,W] / [N,H,W,3] or clips [N,3,T,H,W] / [N,T,3,H,W]");
            }
            if (h > 0 && w > 0 && h != w)
                throw new MediaException(path, MediaErrorKind.EncoderFailed, $"model input is {h}x{w}: only square inputs are supported");
            FrameSize = h > 0 ? h : w > 0 ? w : options.FrameSize ?? 224;
            MaxBatchFrames = d[0] > 0 ? d[0] : options.BatchFrames ?? 32;
            if (d[0] > 1) throw new MediaException(path, MediaErrorKind.EncoderFailed, $"model batch dimension is fixed at {d[0]}; use 1 or dynamic");
            DefaultFramesPerSegment = options.FramesPerSegment ?? (_clip && _clipFrames > 0 ? _clipFrames : 8);
            if (_clip) MaxBatchFrames = (d[0] > 0 ? 1 : 8) * DefaultFramesPerSegment; // clip models: whole segments per call
            if (_clip && _clipFrames > 0 && DefaultFramesPerSegment != _clipFrames)
                throw new MediaException(path, MediaErrorKind.EncoderFailed, $"clip model takes exactly {_clipFrames} frames per segment");

            // One dummy run validates the model and tells the output size.
            var probe = new SegmentFrames(new SegmentSpan(0, 0, 1), FrameSize, DefaultFramesPerSegment, new byte[DefaultFramesPerSegment * FrameSize * FrameSize * 3], new double[DefaultFramesPerSegment]);
            Dimension = RunBatch([probe], clipFrames: DefaultFramesPerSegment, frameMode: !_clip).Length;
            if (Dimension == 0) throw new MediaException(path, MediaErrorKind.EncoderFailed, "model output is empty");
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    public string Name => $"model:{Path.GetFileName(_path)}";
    public string Version => $"onnx:{Path.GetFileName(_path)}:{new FileInfo(_path).Length}:{File.GetLastWriteTimeUtc(_path):yyyyMMddHHmmss}:{FrameSize}:{(_clip ? "clip" : "frame-meanpool")}";
    public int Dimension { get; }
    public string Device { get; }
    public int FrameSize { get; }
    public int DefaultFramesPerSegment { get; }
    public int MaxBatchFrames { get; }
    /// <summary>True when the model takes whole clips (rank-5 input) rather than single frames.</summary>
    public bool TakesClips => _clip;

    public float[] Encode(IReadOnlyList<SegmentFrames> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        foreach (var s in segments)
            if (s.Size != FrameSize) throw new ArgumentException($"{Name} needs {FrameSize}x{FrameSize} frames, got {s.Size}x{s.Size}");
        var result = new float[segments.Count * Dimension];
        if (_clip)
        {
            var frames = _clipFrames > 0 ? _clipFrames : segments.Max(s => s.Count);
            var per = Math.Max(1, MaxBatchFrames / Math.Max(1, frames));
            for (var i = 0; i < segments.Count; i += per)
            {
                var chunk = segments.Skip(i).Take(per).ToList();
                RunBatch(chunk, frames, frameMode: false).CopyTo(result.AsSpan(i * Dimension));
            }
            return result;
        }

        // frame model: all frames of all segments, in batches, then the mean per segment
        var all = segments.SelectMany((s, si) => Enumerable.Range(0, s.Count).Select(f => (Segment: si, Frame: f))).ToList();
        for (var i = 0; i < all.Count; i += MaxBatchFrames)
        {
            var chunk = all.Skip(i).Take(MaxBatchFrames).ToList();
            var items = chunk.Select(c => new SegmentFrames(segments[c.Segment].Segment, FrameSize, 1,
                segments[c.Segment].Frame(c.Frame).ToArray(), [0])).ToList();
            var features = RunBatch(items, 1, frameMode: true);
            for (var k = 0; k < chunk.Count; k++)
            {
                var row = result.AsSpan(chunk[k].Segment * Dimension, Dimension);
                var weight = 1f / segments[chunk[k].Segment].Count;
                for (var j = 0; j < Dimension; j++) row[j] += features[k * Dimension + j] * weight;
            }
        }
        return result;
    }

    /// <summary>frameMode: each item is one frame (its frame 0). Otherwise each item is a clip of <paramref name="clipFrames"/> frames.</summary>
    private float[] RunBatch(IReadOnlyList<SegmentFrames> items, int clipFrames, bool frameMode)
    {
        var n = items.Count;
        var side = FrameSize;
        var plane = side * side;
        var t = frameMode ? 1 : clipFrames;
        var data = new float[n * t * 3 * plane];
        for (var b = 0; b < n; b++)
            for (var k = 0; k < t; k++)
            {
                var item = items[b];
                var frame = item.Frame(Math.Min(item.Count - 1, (int)((long)k * item.Count / t))); // resample to t frames
                for (var p = 0; p < plane; p++)
                    for (var c = 0; c < 3; c++)
                    {
                        var v = (frame[3 * p + c] * _scale - _mean[c]) / _std[c];
                        int index;
                        if (frameMode)
                            index = _channelsLast ? (b * plane + p) * 3 + c : (b * 3 + c) * plane + p;
                        else
                            index = _timeFirst ? ((b * t + k) * 3 + c) * plane + p : ((b * 3 + c) * t + k) * plane + p;
                        data[index] = v;
                    }
            }
        long[] shape = frameMode
            ? (_channelsLast ? [n, side, side, 3] : [n, 3, side, side])
            : (_timeFirst ? [n, t, 3, side, side] : [n, 3, t, side, side]);
        try
        {
            using var input = OrtValue.CreateTensorValueFromMemory(data, shape);
            using var run = new RunOptions();
            using var outputs = _session.Run(run, [_input], [input], [_output]);
            var values = outputs[0].GetTensorDataAsSpan<float>();
            if (values.Length % n != 0) throw new MediaException(_path, MediaErrorKind.EncoderFailed, $"model output of {values.Length} values does not split into {n} items");
            return values.ToArray();
        }
        catch (OnnxRuntimeException e)
        {
            throw new MediaException(_path, MediaErrorKind.EncoderFailed, $"inference failed: {e.Message}", e);
        }
    }

    public void Dispose() => _session.Dispose();
}
