using System.Globalization;

namespace LvMae.Corpus.Tests;

/// <summary>The plan (labels and timelines) is a pure, seeded function of the spec, and its labels mean what they say.</summary>
public sealed class PlanTests
{
    private static readonly CorpusManifest Default = SyntheticCorpus.Plan(CorpusSpec.Default);

    [Fact]
    public void Same_seed_gives_the_same_manifest_and_another_seed_does_not()
    {
        var again = SyntheticCorpus.Plan(CorpusSpec.Default with { });
        Assert.Equal(Default.ToJson(), again.ToJson());
        Assert.Equal(Default.Fingerprint, again.Fingerprint);
        Assert.Equal(Default.ToLabelsCsv(), again.ToLabelsCsv());

        var other = SyntheticCorpus.Plan(CorpusSpec.Default with { Seed = CorpusSpec.Default.Seed + 1 });
        Assert.NotEqual(Default.Fingerprint, other.Fingerprint);
        Assert.NotEqual(Default.ToLabelsCsv(), other.ToLabelsCsv());

        // Parallelism does not change the content.
        Assert.Equal(Default.Fingerprint, SyntheticCorpus.Plan(CorpusSpec.Default with { Parallelism = 7 }).Fingerprint);
    }

    [Fact]
    public void A_video_timeline_does_not_depend_on_the_corpus_size()
    {
        var small = SyntheticCorpus.Plan(CorpusSpec.Default with { VideoCount = 10 });
        // Per-video streams: the same index gets the same jitter, structure and durations (the class and the
        // start of the walk are assigned corpus-wide, balanced, so they may differ).
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(Default.Videos[i].Jitter, small.Videos[i].Jitter);
            Assert.Equal(Default.Videos[i].NumSteps, small.Videos[i].NumSteps);
            Assert.Equal(Default.Videos[i].Steps.Select(s => s.FrameCount), small.Videos[i].Steps.Select(s => s.FrameCount));
        }
    }

    [Fact]
    public void First_steps_are_balanced_within_each_activity_and_split()
    {
        foreach (var m in new[] { Default, SyntheticCorpus.Plan(CorpusSpec.Quick) })
            foreach (var g in m.Videos.GroupBy(v => (v.Activity, v.Split)))
            {
                var counts = m.Spec.CoreSteps.Select(s => g.Count(v => v.FirstStep == s)).ToArray();
                Assert.True(counts.Max() - counts.Min() <= 1, $"{g.Key}: first steps {string.Join(",", counts)}");
            }
    }

    [Fact]
    public void Activities_are_edge_disjoint_cycles_over_the_same_core_steps()
    {
        var core = CorpusSpec.Default.CoreSteps.Order().ToArray();
        Assert.Equal(4, Default.Activities.Count);
        var transitions = new HashSet<(string, string)>();
        foreach (var a in Default.Activities)
        {
            Assert.Equal(core, a.Cycle.Order().ToArray());
            for (int i = 0; i < a.Cycle.Count; i++)
                Assert.True(transitions.Add((a.Cycle[i], a.Cycle[(i + 1) % a.Cycle.Count])),
                    $"transition {a.Cycle[i]}->{a.Cycle[(i + 1) % a.Cycle.Count]} shared by two activities");
        }
        Assert.Equal(5 * 4, transitions.Count); // every directed pair of distinct core steps exactly once
    }

    [Fact]
    public void Every_video_shows_every_core_step_and_only_distractors_besides()
    {
        var core = CorpusSpec.Default.CoreSteps;
        foreach (var v in Default.Videos)
        {
            var occurrences = v.Steps.Select(s => s.Step).ToArray();
            foreach (var step in core)
            {
                int expected = v.InterruptedStep == step ? 2 : 1;
                Assert.Equal(expected, occurrences.Count(s => s == step));
            }
            Assert.All(occurrences.Where(s => !core.Contains(s)), s => Assert.Contains(s, CorpusSpec.Default.DistractorSteps));

            // The core steps, with the interruption merged, walk the activity's cycle from the rotation.
            var cycle = Default.Activities.Single(a => a.Name == v.Activity).Cycle;
            var walk = new List<string>();
            foreach (var s in occurrences.Where(core.Contains))
                if (walk.Count == 0 || walk[^1] != s) walk.Add(s);
            Assert.Equal(Enumerable.Range(0, core.Count).Select(j => cycle[(v.Rotation + j) % core.Count]), walk);
        }
    }

    [Fact]
    public void Bag_of_steps_features_carry_no_activity_or_first_step_signal_but_transitions_do()
    {
        // A large plan (no rendering) so that the statistics are tight.
        var spec = CorpusSpec.Default with { VideoCount = 4000, Seed = 7 };
        var m = SyntheticCorpus.Plan(spec);
        var types = m.StepTypes.Select(t => t.Name).ToArray();

        // Bag features: occurrences and total seconds per step type, plus video length. Nearest class mean,
        // trained on half, tested on the other half: chance (25% / 20%) up to sampling noise.
        double[] Bag(CorpusVideo v) => types.Select(t => (double)v.Steps.Count(s => s.Step == t))
            .Concat(types.Select(t => v.Steps.Where(s => s.Step == t).Sum(s => s.DurationSeconds) / 10))
            .Append(v.DurationSeconds / 60).ToArray();
        double[] Transitions(CorpusVideo v)
        {
            var f = new double[types.Length * types.Length];
            var core = v.Steps.Where(s => spec.CoreSteps.Contains(s.Step)).Select(s => Array.IndexOf(types, s.Step)).ToArray();
            for (int i = 1; i < core.Length; i++) f[core[i - 1] * types.Length + core[i]]++;
            return f;
        }

        double activityBag = NearestMeanAccuracy(m.Videos, Bag, v => v.Activity);
        double firstBag = NearestMeanAccuracy(m.Videos, Bag, v => v.FirstStep);
        double activityOrder = NearestMeanAccuracy(m.Videos, Transitions, v => v.Activity);
        Assert.InRange(activityBag, 0.20, 0.30);
        Assert.InRange(firstBag, 0.15, 0.25);
        Assert.True(activityOrder > 0.99, $"transition features should identify the activity, got {activityOrder:P1}");

        // Duration statistics per class agree (the durations are drawn independently of the class).
        var byClass = m.Videos.GroupBy(v => v.Activity).Select(g => g.Average(v => v.DurationSeconds)).ToArray();
        Assert.True(byClass.Max() - byClass.Min() < 4, $"mean durations per class differ: {string.Join(", ", byClass)}");
    }

    private static double NearestMeanAccuracy(IReadOnlyList<CorpusVideo> videos, Func<CorpusVideo, double[]> feature, Func<CorpusVideo, string> label)
    {
        var train = videos.Where((_, i) => i % 2 == 0).ToArray();
        var test = videos.Where((_, i) => i % 2 == 1).ToArray();
        var means = train.GroupBy(label).ToDictionary(g => g.Key, g =>
        {
            var rows = g.Select(feature).ToArray();
            return Enumerable.Range(0, rows[0].Length).Select(j => rows.Average(r => r[j])).ToArray();
        });
        int correct = 0;
        foreach (var v in test)
        {
            var f = feature(v);
            string best = means.MinBy(kv => kv.Value.Zip(f, (a, b) => (a - b) * (a - b)).Sum()).Key;
            if (best == label(v)) correct++;
        }
        return (double)correct / test.Length;
    }

    [Fact]
    public void Timelines_are_contiguous_segment_aligned_and_one_to_four_minutes()
    {
        foreach (var (manifest, min, max) in new[] { (Default, 60.0, 240.0), (SyntheticCorpus.Plan(CorpusSpec.Quick), 45.0, 125.0) })
        {
            foreach (var v in manifest.Videos)
            {
                Assert.Equal(0, v.Steps[0].StartFrame);
                for (int i = 1; i < v.Steps.Count; i++)
                {
                    Assert.Equal(v.Steps[i - 1].EndFrame, v.Steps[i].StartFrame);
                    Assert.NotEqual(v.Steps[i - 1].Step, v.Steps[i].Step);
                }
                Assert.All(v.Steps, s => Assert.Equal(0, s.StartFrame % manifest.Spec.FramesPerSegment));
                Assert.Equal(v.FrameCount, v.Steps[^1].EndFrame);
                Assert.Equal(v.FrameCount / (double)manifest.Spec.FrameRate, v.DurationSeconds, 9);
                Assert.InRange(v.DurationSeconds, min, max);
                Assert.All(v.SegmentSteps(), s => Assert.True(s.IsPure));
            }
        }
    }

    [Fact]
    public void Labels_match_the_timelines()
    {
        foreach (var v in Default.Videos)
        {
            Assert.Equal(v.Steps[0].Step, v.FirstStep);
            Assert.Contains(v.FirstStep, CorpusSpec.Default.CoreSteps);
            Assert.Equal(v.Steps.Count, v.NumSteps);
            Assert.Equal(v.Steps.Where(s => s.Step == "fractal").Sum(s => s.DurationSeconds), v.KeyStepSeconds, 6);
            Assert.Equal(v.DurationSeconds, v.Steps.Sum(s => s.DurationSeconds), 6);
        }
        Assert.Equal(["5", "6", "7", "8", "9"], Default.Label("num_steps").Classes);
        Assert.Equal(0.25, Default.Label("activity").ExpectedChance);
        Assert.Equal(0.2, Default.Label("first_step").ExpectedChance);
        Assert.Equal(0.3333, Default.Label("num_steps").ExpectedChance);
        Assert.False(Default.Label("activity").BagOfSegmentsSolvable);
        Assert.True(Default.Label("key_step_seconds").ExpectedChance > 3);
    }

    [Fact]
    public void Classes_are_balanced_and_the_split_is_stratified()
    {
        foreach (var g in Default.Videos.GroupBy(v => v.Activity))
        {
            Assert.Equal(30, g.Count());
            Assert.Equal(8, g.Count(v => v.Split == "test")); // round(30 x 0.25) = 7.5 -> 8
        }
        var quick = SyntheticCorpus.Plan(CorpusSpec.Quick);
        Assert.Equal(24, quick.Videos.Count);
        Assert.All(quick.Videos.GroupBy(v => v.Activity), g => Assert.Equal(2, g.Count(v => v.Split == "test")));
    }

    [Fact]
    public void Labels_csv_has_the_documented_columns_and_round_trips_through_the_saved_manifest()
    {
        string dir = Path.Combine(Path.GetTempPath(), "lvmae-corpus-plan-" + Guid.NewGuid().ToString("N"));
        try
        {
            Default.Save(dir);
            var lines = File.ReadAllLines(Path.Combine(dir, "labels.csv"));
            Assert.Equal("videoId,activity,first_step,num_steps,key_step_seconds,split", lines[0]);
            Assert.Equal(121, lines.Length);
            var row = lines[1].Split(',');
            var v = Default.Videos[0];
            Assert.Equal([v.VideoId, v.Activity, v.FirstStep, v.NumSteps.ToString(CultureInfo.InvariantCulture),
                v.KeyStepSeconds.ToString("0.###", CultureInfo.InvariantCulture), v.Split], row);

            var loaded = CorpusManifest.Load(dir);
            Assert.Equal(Default.ToJson(), loaded.ToJson());
            Assert.Equal(CorpusSpec.Default.CoreSteps, loaded.Spec.CoreSteps);
            Assert.Equal(Default.Videos[3].Steps, loaded.Videos[3].Steps);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void StepAt_and_segment_truth_follow_the_timeline()
    {
        var v = Default.Videos[0];
        var second = v.Steps[1];
        Assert.Equal(v.Steps[0].Step, Default.StepAt(v.VideoId, 0));
        Assert.Equal(v.Steps[0].Step, Default.StepAt(v.VideoId, second.StartSeconds - 0.01));
        Assert.Equal(second.Step, Default.StepAt(v.VideoId, second.StartSeconds));
        Assert.Equal(v.Steps[^1].Step, Default.StepAt(v.VideoId, v.DurationSeconds));
        Assert.Null(Default.StepAt(v.VideoId, v.DurationSeconds + 1));
        Assert.Throws<KeyNotFoundException>(() => Default.StepAt("nope", 0));

        var segments = Default.SegmentSteps(v.VideoId);
        Assert.Equal((int)(v.DurationSeconds / 5), segments.Count);
        Assert.Equal(second.Step, segments[(int)(second.StartSeconds / 5)].Step);

        // A span across a boundary is impure and reports the majority step.
        var straddle = v.Truth(0, second.StartSeconds - 1, second.StartSeconds + 4);
        Assert.Equal(second.Step, straddle.Step);
        Assert.False(straddle.IsPure);
        Assert.Equal(0.8, straddle.Purity, 9);
    }

    [Fact]
    public void Unaligned_durations_are_whole_frames_and_leave_straddling_segments()
    {
        var m = SyntheticCorpus.Plan(CorpusSpec.Quick with { AlignStepsToSegments = false });
        Assert.Contains(m.Videos.SelectMany(v => v.SegmentSteps()), s => !s.IsPure);
        Assert.All(m.Videos, v => Assert.Equal(v.FrameCount, v.Steps.Sum(s => s.FrameCount)));
    }

    [Theory]
    [InlineData("ActivityCount")]
    [InlineData("KeyStep")]
    [InlineData("Unknown step")]
    [InlineData("Fps")]
    [InlineData("Durations")]
    public void Inconsistent_specs_are_rejected_with_the_setting_named(string what)
    {
        var spec = what switch
        {
            "ActivityCount" => CorpusSpec.Default with { ActivityCount = 5 },
            "KeyStep" => CorpusSpec.Default with { KeyStep = "gradient" },
            "Unknown step" => CorpusSpec.Default with { CoreSteps = ["bars", "fractal", "nosuch"] },
            "Fps" => CorpusSpec.Default with { FrameRate = 7, SegmentSeconds = 2.5 },
            _ => CorpusSpec.Default with { MinStepSegments = 4, MaxStepSegments = 3 },
        };
        var e = Assert.Throws<ArgumentException>(() => SyntheticCorpus.Plan(spec));
        Assert.StartsWith("Invalid corpus spec", e.Message);
    }

    [Fact]
    public void Other_core_step_counts_give_stride_cycles()
    {
        Assert.Equal([1, 2, 3, 4, 5, 6], ActivityPlan.Strides(7));
        Assert.Equal([1, 5], ActivityPlan.Strides(6));
        var spec = CorpusSpec.Default with { CoreSteps = ["bars", "fractal", "life", "automaton", "testcard", "carpet", "spectrum"], ActivityCount = 6, VideoCount = 12 };
        var m = SyntheticCorpus.Plan(spec);
        Assert.Equal(6, m.Activities.Count);
        Assert.Equal(["bars", "life", "testcard", "spectrum", "fractal", "automaton", "carpet"], m.Activities[1].Cycle);
    }

    [Fact]
    public void The_filter_graph_concatenates_one_trimmed_source_per_step_with_the_video_jitter()
    {
        var v = Default.Videos[0];
        string graph = SyntheticCorpus.BuildFilterGraph(v, CorpusSpec.Default);
        Assert.Contains($"concat=n={v.Steps.Count}:v=1:a=0", graph);
        foreach (var s in v.Steps)
            Assert.Contains($"trim=end_frame={s.FrameCount},setpts=PTS-STARTPTS,format=yuv444p,setsar=1[s{s.Index}]", graph);
        Assert.Contains($"all_seed={v.Jitter.NoiseSeed}", graph);
        Assert.DoesNotContain(",,", graph);
        var args = SyntheticCorpus.BuildArguments(v, CorpusSpec.Default, "/tmp/x.mp4");
        Assert.Equal("/tmp/x.mp4", args[^1]);
        Assert.Contains("40", args); // keyframe every 5 s segment at 8 fps
    }

    [Fact]
    public void The_demo_corpus_has_train_pretrain_val_and_test_in_every_activity_and_the_same_videos_as_without_val()
    {
        var plan = SyntheticCorpus.Plan(CorpusSpec.Demo);
        Assert.Equal((80, 80, 24, 56), (plan.Videos.Count(v => v.Split == "train"), plan.Videos.Count(v => v.Split == "pretrain"),
            plan.Videos.Count(v => v.Split == "val"), plan.Videos.Count(v => v.Split == "test")));
        Assert.All(plan.Videos.GroupBy(v => v.Activity), g => Assert.Equal(["pretrain", "test", "train", "val"], g.Select(v => v.Split).Distinct().Order()));
        // Val is carved out of train: the test videos and every timeline are those of the same spec without val.
        var noVal = SyntheticCorpus.Plan(CorpusSpec.Demo with { ValFraction = 0, PretrainFraction = 0 });
        Assert.Equal(noVal.Videos.Where(v => v.Split == "test").Select(v => v.VideoId), plan.Videos.Where(v => v.Split == "test").Select(v => v.VideoId));
        Assert.Equal(noVal.Videos.Select(v => v.DurationSeconds), plan.Videos.Select(v => v.DurationSeconds));
        Assert.Throws<ArgumentException>(() => (CorpusSpec.Demo with { ValFraction = 0.7 }).Validate());
        Assert.Throws<ArgumentException>(() => (CorpusSpec.Demo with { PretrainFraction = 0.7 }).Validate());
    }
}
