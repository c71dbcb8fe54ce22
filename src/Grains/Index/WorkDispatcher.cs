using LvMae.Contracts;
using Microsoft.Extensions.Logging;

namespace LvMae.Grains.Index;

/// <summary>
/// Drives the unfinished videos of one index shard: keeps up to <c>capacity()</c> of them in flight (asked to
/// <see cref="IVideoGrain.Process"/>), oldest first, and pings the ones in flight on every tick so work lost with a dead silo
/// restarts on a live one. Queued videos cost an id here and nothing elsewhere: no activation, no download, no scratch.
/// A ping that fails (the video's silo just died and the cluster has not noticed yet, say) is retried with growing pauses;
/// a video whose pings keep failing gives its place up for a while, so one that cannot be activated cannot hold a place
/// forever, and tries again later (at once when its entry changes).
/// </summary>
public sealed class WorkDispatcher(IGrainFactory grains, Func<int> capacity, ILogger logger, int shard, TimeProvider? clock = null)
{
    /// <summary>Failed pings in a row after which a video gives its place up for <see cref="Cooldown"/>.</summary>
    public const int MaxPingFailures = 10;
    public static readonly TimeSpan MaxPingPause = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan Cooldown = TimeSpan.FromMinutes(5);

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly Dictionary<string, Flight> _inFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _coolingUntil = new(StringComparer.Ordinal);
    private readonly HashSet<string> _pinging = new(StringComparer.Ordinal);

    private sealed class Flight
    {
        public int Failures;
        public DateTimeOffset NextPing;
    }

    public int InFlight => _inFlight.Count;
    /// <summary>Videos whose pings kept failing, out of the flight until their pause ends or their entry changes.</summary>
    public int Parked => _coolingUntil.Count;
    public IReadOnlyCollection<string> InFlightIds => _inFlight.Keys;

    /// <summary>The entry of <paramref name="id"/> changed: a finished video leaves the flight; a cooling one may try again.</summary>
    public void Changed(string id, bool finished)
    {
        _coolingUntil.Remove(id);
        if (finished) _inFlight.Remove(id);
    }

    /// <summary>Starts queued videos until <c>capacity()</c> are in flight (fire and forget: each reports through its index entry).</summary>
    public void Fill(IndexShard index)
    {
        var room = capacity() - _inFlight.Count;
        if (room <= 0) return;
        var now = _clock.GetUtcNow();
        foreach (var id in index.Queue)
        {
            if (room <= 0) break;
            if (_inFlight.ContainsKey(id)) continue;
            if (_coolingUntil.TryGetValue(id, out var until))
            {
                if (until > now) continue;
                _coolingUntil.Remove(id);
            }
            _inFlight[id] = new Flight { NextPing = now };
            room--;
            _ = PingAsync(id);
        }
    }

    /// <summary>Pings every video in flight that is due (idempotent for one that is working), then fills free places.</summary>
    public async Task TickAsync(IndexShard index)
    {
        foreach (var id in _inFlight.Keys.Where(id => index.Get(id) is not { } e || IndexShard.IsFinished(e.Stage)).ToList())
            _inFlight.Remove(id);
        var now = _clock.GetUtcNow();
        await Task.WhenAll(_inFlight.Where(kv => kv.Value.NextPing <= now).Select(kv => kv.Key).ToList().Select(PingAsync));
        Fill(index);
    }

    private async Task PingAsync(string id)
    {
        if (!_pinging.Add(id)) return; // one ping per video at a time
        try
        {
            var status = await grains.GetGrain<IVideoGrain>(id).Process();
            if (!status.Exists) GiveUp(id, TimeSpan.FromHours(1), "the index lists it but it has no persisted state (an audit removes such entries)");
            else if (_inFlight.TryGetValue(id, out var flight)) flight.Failures = 0;
        }
        catch (Exception e)
        {
            if (!_inFlight.TryGetValue(id, out var flight)) return;
            flight.Failures++;
            var pause = TimeSpan.FromSeconds(Math.Min(MaxPingPause.TotalSeconds, Math.Pow(2, flight.Failures - 1)));
            flight.NextPing = _clock.GetUtcNow() + pause;
            logger.LogWarning("index shard {Shard}: asking video {Id} to process failed ({Failures} in a row; again in {Pause}): {Message}",
                shard, id, flight.Failures, pause, e.Message);
            if (flight.Failures >= MaxPingFailures) GiveUp(id, Cooldown, e.Message);
        }
        finally
        {
            _pinging.Remove(id);
        }
    }

    private void GiveUp(string id, TimeSpan pause, string why)
    {
        _inFlight.Remove(id);
        _coolingUntil[id] = _clock.GetUtcNow() + pause;
        logger.LogWarning("index shard {Shard}: video {Id} gives its place up for {Pause}: {Why}", shard, id, pause, why);
    }
}
