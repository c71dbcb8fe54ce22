namespace LvMae.Grains.Training;

/// <summary>
/// Uploads checkpoints off the training thread with bounded memory: at most one checkpoint uploading and one waiting.
/// <see cref="Offer"/> never blocks the training thread; a checkpoint offered while another is still waiting replaces it
/// (the newer one supersedes it; a probe it asked for moves to the newer one). <see cref="Flush"/> waits until nothing is
/// waiting or uploading (the final checkpoint, a stop). A failed upload is reported and does not stop the next ones.
/// </summary>
public sealed class CheckpointUploader(
    Func<PendingCheckpoint, CancellationToken, Task<string>> upload, Action<PendingCheckpoint, string?, Exception?> uploaded, CancellationToken cancellationToken)
{
    private readonly object _gate = new();
    private PendingCheckpoint? _waiting;
    private Task _uploading = Task.CompletedTask;
    private bool _busy;

    /// <summary>Checkpoints held now (waiting + uploading): never more than 2.</summary>
    public int Held { get { lock (_gate) return (_waiting is null ? 0 : 1) + (_busy ? 1 : 0); } }

    /// <summary>Checkpoints replaced before they were uploaded.</summary>
    public int Superseded { get; private set; }

    public void Offer(PendingCheckpoint checkpoint)
    {
        lock (_gate)
        {
            if (_waiting is { } older)
            {
                Superseded++;
                checkpoint = checkpoint with { Probe = checkpoint.Probe || older.Probe };
            }
            _waiting = checkpoint;
            if (!_busy)
            {
                _busy = true;
                _uploading = Task.Run(DrainAsync, CancellationToken.None);
            }
        }
    }

    /// <summary>Blocks the calling (training) thread until every offered checkpoint is uploaded or has failed.</summary>
    public void Flush()
    {
        while (true)
        {
            Task current;
            lock (_gate)
            {
                if (!_busy && _waiting is null) return;
                current = _uploading;
            }
            current.Wait(cancellationToken);
        }
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            PendingCheckpoint next;
            lock (_gate)
            {
                if (_waiting is null) { _busy = false; return; }
                next = _waiting;
                _waiting = null;
            }
            try
            {
                var blob = await upload(next, cancellationToken);
                uploaded(next, blob, null);
            }
            catch (Exception e)
            {
                uploaded(next, null, e);
            }
        }
    }
}
