using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LvMae.Corpus;

/// <summary>The activity classes of a spec: directed Hamiltonian cycles over the core steps by stride.</summary>
public static class ActivityPlan
{
    /// <summary>Strides s in 1..k-1 with gcd(s, k) = 1: each gives a cycle visiting every core step once, and
    /// different strides share no directed transition (step i is followed by i + s only under stride s).</summary>
    public static IReadOnlyList<int> Strides(int k) =>
        Enumerable.Range(1, Math.Max(0, k - 1)).Where(s => Gcd(s, k) == 1).ToArray();

    /// <summary>The activity classes of a spec, named A, B, C, ... in stride order.</summary>
    public static IReadOnlyList<ActivityClass> Classes(CorpusSpec spec)
    {
        int k = spec.CoreSteps.Count;
        return Strides(k).Take(spec.ActivityCount)
            .Select((stride, c) => new ActivityClass(
                ((char)('A' + c)).ToString(),
                stride,
                Enumerable.Range(0, k).Select(i => spec.CoreSteps[i * stride % k]).ToArray()))
            .ToArray();
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}

/// <summary>Turns a spec into labels and timelines (no ffmpeg): a pure function of the spec.</summary>
internal static class CorpusPlanner
{
    public static CorpusManifest Plan(CorpusSpec spec)
    {
        spec.Validate();
        var activities = ActivityPlan.Classes(spec);
        int k = spec.CoreSteps.Count;
        int fps = spec.FrameRate;
        int segFrames = spec.FramesPerSegment;

        // Balanced class assignment, shuffled so that ids carry no class pattern.
        var assignment = Enumerable.Range(0, spec.VideoCount).Select(i => i % activities.Count).ToList();
        DeterministicRandom.Derive(spec.Seed, "activity", 0).Shuffle(assignment);

        // Split stratified by activity: round(n x TestFraction) test videos per class, chosen at random, then
        // round(n x ValFraction) val videos (for choosing settings; never the test videos), then round(n x PretrainFraction)
        // pretrain videos (pre-training only), at least one train video left.
        var test = new HashSet<int>();
        var val = new HashSet<int>();
        var pretrain = new HashSet<int>();
        for (int c = 0; c < activities.Count; c++)
        {
            var members = Enumerable.Range(0, spec.VideoCount).Where(i => assignment[i] == c).ToList();
            DeterministicRandom.Derive(spec.Seed, "split", c).Shuffle(members);
            int nTest = (int)Math.Round(members.Count * spec.TestFraction, MidpointRounding.AwayFromZero);
            if (spec.TestFraction > 0 && members.Count >= 2) nTest = Math.Clamp(nTest, 1, members.Count - 1);
            foreach (int i in members.Take(nTest)) test.Add(i);
            int nVal = Math.Min((int)Math.Round(members.Count * spec.ValFraction, MidpointRounding.AwayFromZero), Math.Max(0, members.Count - nTest - 1));
            foreach (int i in members.Skip(nTest).Take(nVal)) val.Add(i);
            int nPretrain = Math.Min((int)Math.Round(members.Count * spec.PretrainFraction, MidpointRounding.AwayFromZero), Math.Max(0, members.Count - nTest - nVal - 1));
            foreach (int i in members.Skip(nTest + nVal).Take(nPretrain)) pretrain.Add(i);
        }

        // Start of the walk (hence first_step): balanced within each (activity, split) group, so that first_step
        // is as uniform as the group sizes allow in both splits and independent of the class.
        var rotationOf = new int[spec.VideoCount];
        for (int c = 0; c < activities.Count; c++)
            for (int t = 0; t < 2; t++)
            {
                var group = Enumerable.Range(0, spec.VideoCount).Where(i => assignment[i] == c && test.Contains(i) == (t == 1)).ToList();
                var rng = DeterministicRandom.Derive(spec.Seed, "rotation", c * 2 + t);
                int offset = rng.Next(k);
                var values = Enumerable.Range(0, group.Count).Select(j => (j + offset) % k).ToList();
                rng.Shuffle(values);
                for (int j = 0; j < group.Count; j++) rotationOf[group[j]] = values[j];
            }

        var drafts = new List<CorpusVideo>(spec.VideoCount);
        for (int v = 0; v < spec.VideoCount; v++)
        {
            var rng = DeterministicRandom.Derive(spec.Seed, "video", v);
            var activity = activities[assignment[v]];

            var jitter = new VideoJitter(
                HueDegrees: Math.Round(rng.NextDouble(-spec.HueJitterDegrees, spec.HueJitterDegrees), 2),
                Saturation: Math.Round(1 + rng.NextDouble(-spec.ColourJitter, spec.ColourJitter), 3),
                Brightness: Math.Round(rng.NextDouble(-spec.BrightnessJitter, spec.BrightnessJitter), 3),
                Contrast: Math.Round(1 + rng.NextDouble(-spec.ColourJitter, spec.ColourJitter), 3),
                Noise: rng.NextInclusive(spec.MinNoise, spec.MaxNoise),
                NoiseSeed: rng.NextSeed());

            // One walk around the class's cycle from its (balanced, random) start.
            int rotation = rotationOf[v];
            var units = Enumerable.Range(0, k).Select(j => new List<string> { activity.Cycle[(rotation + j) % k] }).ToList();

            // Optionally one core step is interrupted by a distractor and resumed: X, D, X.
            string? interrupted = null;
            if (spec.DistractorSteps.Count > 0 && rng.NextDouble() < spec.InterruptionProbability)
            {
                int u = rng.Next(k);
                interrupted = units[u][0];
                units[u] = [interrupted, spec.DistractorSteps[rng.Next(spec.DistractorSteps.Count)], interrupted];
            }

            // 0..MaxDistractors extra distractors in distinct gaps after the first unit (never first, never adjacent).
            int extra = spec.DistractorSteps.Count == 0 ? 0 : rng.Next(spec.MaxDistractors + 1);
            var gaps = Enumerable.Range(1, k).ToList();
            rng.Shuffle(gaps);
            foreach (int gap in gaps.Take(extra).OrderDescending())
                units.Insert(gap, [spec.DistractorSteps[rng.Next(spec.DistractorSteps.Count)]]);

            // Durations: independent of class, order and step type.
            var steps = new List<StepOccurrence>();
            int frame = 0;
            foreach (string step in units.SelectMany(u => u))
            {
                int frames = spec.AlignStepsToSegments
                    ? rng.NextInclusive(spec.MinStepSegments, spec.MaxStepSegments) * segFrames
                    : rng.NextInclusive(spec.MinStepSegments * segFrames, spec.MaxStepSegments * segFrames);
                steps.Add(new StepOccurrence(steps.Count, step, (double)frame / fps, (double)(frame + frames) / fps,
                    frame, frame + frames, rng.NextSeed()));
                frame += frames;
            }

            double keySeconds = steps.Where(s => s.Step == spec.KeyStep).Sum(s => (double)s.FrameCount) / fps;
            drafts.Add(new CorpusVideo(
                VideoId: $"syn{v + 1:D4}",
                FileName: $"syn{v + 1:D4}.mp4",
                Activity: activity.Name,
                FirstStep: steps[0].Step,
                NumSteps: steps.Count,
                KeyStepSeconds: keySeconds,
                Split: test.Contains(v) ? "test" : val.Contains(v) ? "val" : pretrain.Contains(v) ? "pretrain" : "train",
                DurationSeconds: (double)frame / fps,
                FrameCount: frame,
                Rotation: rotation,
                InterruptedStep: interrupted,
                Jitter: jitter,
                Steps: steps));
        }

        var videos = drafts.ToArray();

        var labels = Labels(spec, activities, videos);
        string fingerprint = Fingerprint(spec, videos);
        return new CorpusManifest(CorpusManifest.FormatName, fingerprint, spec,
            spec.CoreSteps.Concat(spec.DistractorSteps).Select(StepCatalog.Get).ToArray(),
            activities, labels, videos);
    }

    private static IReadOnlyList<LabelDefinition> Labels(CorpusSpec spec, IReadOnlyList<ActivityClass> activities, IReadOnlyList<CorpusVideo> videos)
    {
        int k = spec.CoreSteps.Count;
        var train = videos.Where(v => v.Split == "train").ToArray();
        var test = videos.Where(v => v.Split == "test").ToArray();
        if (test.Length == 0) test = videos.ToArray();

        // num_steps = K + extra + 2 x interrupted; extra ~ U{0..M}, interrupted ~ Bernoulli(p).
        double p = spec.DistractorSteps.Count == 0 ? 0 : spec.InterruptionProbability;
        int m = spec.DistractorSteps.Count == 0 ? 0 : spec.MaxDistractors;
        var numStepsProb = new Dictionary<int, double>();
        for (int d = 0; d <= m; d++)
        {
            numStepsProb[k + d] = numStepsProb.GetValueOrDefault(k + d) + (1 - p) / (m + 1);
            numStepsProb[k + d + 2] = numStepsProb.GetValueOrDefault(k + d + 2) + p / (m + 1);
        }
        var numStepsClasses = numStepsProb.Where(kv => kv.Value > 0).Select(kv => kv.Key).Order()
            .Select(n => n.ToString(CultureInfo.InvariantCulture)).ToArray();

        double Majority(Func<CorpusVideo, string> label, IReadOnlyList<string> classes)
        {
            var source = train.Length > 0 ? train : videos;
            string top = classes.OrderByDescending(c => source.Count(v => label(v) == c)).First();
            return Math.Round((double)test.Count(v => label(v) == top) / test.Length, 4);
        }

        double trainMean = (train.Length > 0 ? train : videos).Average(v => v.KeyStepSeconds);
        double allMean = videos.Average(v => v.KeyStepSeconds);
        double std = Math.Sqrt(videos.Average(v => (v.KeyStepSeconds - allMean) * (v.KeyStepSeconds - allMean)));
        double rmse = Math.Sqrt(test.Average(v => (v.KeyStepSeconds - trainMean) * (v.KeyStepSeconds - trainMean)));

        var activityNames = activities.Select(a => a.Name).ToArray();
        return
        [
            new("activity", "classification", activityNames, Math.Round(1.0 / activities.Count, 4),
                Majority(v => v.Activity, activityNames), false,
                "Global order: which directed cycle of the same core steps the video walks (from a random start, with "
                + "distractors and interruptions). Same step multiset and duration distribution in every class, so it "
                + "needs the order of steps across the whole video."),
            new("first_step", "classification", spec.CoreSteps.ToArray(), Math.Round(1.0 / k, 4),
                Majority(v => v.FirstStep, spec.CoreSteps), false,
                "Absolute position: which core step opens the video. Uniform and independent of the class and of the bag "
                + "of steps; needs to know which segment comes first."),
            new("num_steps", "classification", numStepsClasses, Math.Round(numStepsProb.Values.Max(), 4),
                Majority(v => v.NumSteps.ToString(CultureInfo.InvariantCulture), numStepsClasses), true,
                "Counting: number of step occurrences (K core steps + extra distractors + 2 for an interruption). Partly "
                + "visible to a bag model (which distractor types appear, how many step starts it sees), exact only with order."),
            new("key_step_seconds", "regression", [], Math.Round(std, 3), Math.Round(rmse, 3), true,
                $"Duration: total seconds of the '{spec.KeyStep}' step. A mean-pooled bag sees its proportion but not "
                + "the video length; sum pooling or position-aware features recover it."),
        ];
    }

    private static string Fingerprint(CorpusSpec spec, IReadOnlyList<CorpusVideo> videos)
    {
        string json = JsonSerializer.Serialize(new { spec, videos }, CorpusManifest.JsonOptions);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));
    }
}
