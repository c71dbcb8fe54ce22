using LvMae.Contracts;
using Microsoft.Extensions.Logging;

namespace LvMae.Grains.Index;

/// <summary>
/// Drives the unfinished videos of one index shard: keeps up to <c>capacity()</c> of them in flight (asked to
/// <see cref="IVideoGrain.Process"/>), oldest first, and pings the ones in flight on every tick so work lost with a dead silo
/// restarts on a live one. Queued videos cost an id here and nothing elsewhere: no activation, no download, no scratch.
/// A video whose pings keep failing (its state cannot be read, say) is parked, so it cannot hold a slot forever; it is
/// tried again when its entry changes.
/// </summary>
public sealed class WorkDispatcher(IGrainFactory grains, Func<int> capacity, ILogger logger, int shard, int maxPingFailures = 5)
{
    private readonly Dictionary<string, int> _inFlight = new(StringComparer.Ordinal);
    private readonly HashSet<string> _parked = new(StringComparer.Ordinal);
    private readonly HashSet<string> _pinging = new(StringComparer.Ordinal);

    public int InFlight => _inFlight.Count;
    public int Parked => _parked.Count;
    public IReadOnlyCollection<string> InFlightIds => _inFlight.Keys;

    /// <summary>The entry of <paramref name="id"/> changed: a finished video leaves the flight; a parked one may try again.</summary>
    public void Changed(string id, bool finished)
    {
        _parked.Remove(id);
        if (finished) _inFlight.Remove(id);
    }

    /// <summary>Starts queued videos until <c>capacity()</c> are in flight (fire and forget: each reports through its index entry).</summary>
    public void Fill(IndexShard index)
    {
        var room = capacity() - _inFlight.Count;
        if (room <= 0) return;
        foreach (var id in index.Queue)
        {
            if (room <= 0) break;
            if (_inFlight.ContainsKey(id) || _parked.Contains(id)) continue;
            _inFlight[id] = 0;
            room--;
            _ = PingAsync(id);
        }
    }

    /// <summary>Pings every video in flight (idempotent for one that is working), then fills free places.</summary>
    public async Task TickAsync(IndexShard index)
    {
        foreach (var id in _inFlight.Keys.Where(id => index.Get(id) is not { } e || IndexShard.IsFinished(e.Stage)).ToList())
            _inFlight.Remove(id);
        await Task.WhenAll(_inFlight.Keys.ToList().Select(PingAsync));
        Fill(index);
    }

    private async Task PingAsync(string id)
    {
        if (!_pinging.Add(id)) return; // one ping per video at a time
        try
        {
            var status = await grains.GetGrain<IVideoGrain>(id).Process();
            if (!status.Exists) Park(id, "the index lists it but it has no persisted state");
            else if (_inFlight.ContainsKey(id)) _inFlight[id] = 0;
        }
        catch (Exception e)
        {
            if (!_inFlight.TryGetValue(id, out var failures)) return;
            _inFlight[id] = ++failures;
            logger.LogWarning("index shard {Shard}: asking video {Id} to process failed ({Failures}/{Max}): {Message}", shard, id, failures, maxPingFailures, e.Message);
            if (failures >= maxPingFailures) Park(id, e.Message);
        }
        finally
        {
            _pinging.Remove(id);
        }
    }

    private void Park(string id, string why)
    {
        _inFlight.Remove(id);
        _parked.Add(id);
        logger.LogWarning("index shard {Shard}: video {Id} parked until its entry changes: {Why}", shard, id, why);
    }
}
