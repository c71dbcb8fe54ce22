using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Model;
using LvMae.Model.Masking;
using LvMae.Model.Retrieval;
using LvMae.Model.Training;
using LvMae.Runs;
using LvMae.Storage;
using Orleans.Concurrency;

namespace LvMae.Grains.Training;

/// <summary>
/// <see cref="IRunRetrievalGrain"/>: masks and reconstructs one video with the run's latest checkpoint and matches each
/// masked segment against the request's captions (<see cref="ReconstructionRetrieval"/>), on a dedicated thread on the
/// CPU. A stateless worker, so retrievals neither wait on nor hold up the run's own grain.
/// </summary>
[StatelessWorker]
public sealed class RunRetrievalGrain(BlobStore blobs) : Grain, IRunRetrievalGrain
{
    public async Task<RetrievalResult> Retrieve(RetrievalRequest request)
    {
        var name = this.GetPrimaryKeyString();
        BlobLayout.ValidateId(request.VideoId, "video id");
        var p = await GrainFactory.GetGrain<ITrainingRunGrain>(name).GetProgress();
        if (p.State == TrainingState.None || p.Config is null) return new RetrievalResult { Error = $"no run '{name}'" };
        if (p.LatestCheckpoint is null) return new RetrievalResult { Error = $"run '{name}' has no checkpoint yet" };
        byte[] checkpoint;
        try { checkpoint = (await new RunCheckpoints(blobs, name).LoadAsync(p.LatestCheckpointStep)).Bytes; }
        catch (InvalidDataException e) { return new RetrievalResult { Error = e.Message }; }
        var embeddings = await blobs.TryDownloadAsync(BlobLayout.Embeddings(request.VideoId, p.Config.Encoder));
        if (embeddings is null) return new RetrievalResult { Error = $"video '{request.VideoId}' has no {p.Config.Encoder} embeddings" };
        var index = new CaptionIndex(request.CaptionEmbeddings, request.Captions, request.CaptionDim);
        var config = p.Config;
        var segments = await DedicatedThread.Run($"lvmae-retrieve-{name}", () =>
        {
            var array = NpyArray.Read(new MemoryStream(embeddings));
            var dim = (int)array.Shape[^1];
            using var model = ModelWeights.LoadModel(Checkpoint.ExtractWeights(checkpoint), TorchDevice.Resolve("cpu"));
            var masking = MaskingStrategies.Create(config.Masking, ReconstructionRetrieval.EvaluationMaskRatio);
            return ReconstructionRetrieval.Explain(model, array.ToFloats(), dim, index, masking, new Random(request.Seed), request.Top);
        });
        return new RetrievalResult
        {
            Segments = segments.Select(s => new RetrievedSegment(s.Position, Captions(s.Original), Captions(s.Reconstructed), s.ReconstructionCosine)).ToList(),
        };

        static IReadOnlyList<RetrievedCaption> Captions(IEnumerable<CaptionMatch> matches) => matches.Select(m => new RetrievedCaption(m.Caption, m.Score)).ToList();
    }
}
