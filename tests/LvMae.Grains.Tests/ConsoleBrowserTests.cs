using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using LvMae.Client;
using LvMae.Contracts;
using LvMae.Formats;
using LvMae.Grains.Training;
using LvMae.Runs;
using LvMae.Media;
using LvMae.Silo;
using LvMae.Storage;
using LvMae.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using Xunit.Abstractions;

namespace LvMae.Grains.Tests;

/// <summary>
/// The web console in a real browser (Debian's headless chromium + chromium-driver through Selenium, installed by
/// infra/setup.sh) on a real silo (LvMaeSiloHost with an API key, Azurite) with a real corpus: imported videos, a video
/// file that fails transiently (retryable), a file that is not a video (permanent), a finished training run with probes
/// and one that trains until the test stops it. What the page shows is compared with the JSON API's answers; screenshots
/// go to <see cref="ScreenshotDir"/>.
/// </summary>
[Collection(SiloHostCollection.Name)]
public sealed class ConsoleBrowserTests(SiloHostFixture fixture, ITestOutputHelper output)
{
    private const string Key = "console-test-key-0123456789";
    private const string Encoder = "console-enc";
    private const int Dim = 16;

    /// <summary>.artifacts/console-screenshots at the repository root (LVMAE_CONSOLE_SCREENSHOTS overrides).</summary>
    public static string ScreenshotDir
    {
        get
        {
            if (Environment.GetEnvironmentVariable("LVMAE_CONSOLE_SCREENSHOTS") is { Length: > 0 } dir) return dir;
            var root = new DirectoryInfo(AppContext.BaseDirectory);
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "LvMae.sln"))) root = root.Parent;
            return Path.Combine(root?.FullName ?? AppContext.BaseDirectory, ".artifacts", "console-screenshots");
        }
    }

    private static ChromeDriver Browser()
    {
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver"); // Debian's chromium-driver: no download
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1600", "--lang=en-US");
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    private void Shot(ChromeDriver browser, string name)
    {
        Directory.CreateDirectory(ScreenshotDir);
        var path = Path.Combine(ScreenshotDir, name + ".png");
        browser.GetScreenshot().SaveAsFile(path);
        output.WriteLine($"screenshot: {path}");
    }

    private static string Cell(ISearchContext page, string table, string key, int column = 1) =>
        page.FindElement(By.CssSelector($"#{table} tr[data-key='{key}']")).FindElements(By.TagName("td"))[column - 1].Text;

    /// <summary>The notice a form post's redirect shows. A click only starts the navigation: until the new page is there,
    /// the old page (which may have a notice of its own) answers, or its elements go stale under the lookup.</summary>
    private static string NoticeContaining(IWebDriver browser, string expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = browser.FindElement(By.Id("notice")).Text;
                if (last.Contains(expected, StringComparison.Ordinal)) return last;
            }
            catch (Exception e) when (e is NoSuchElementException or StaleElementReferenceException) { }
            Thread.Sleep(100);
        }
        return last;
    }

    /// <summary>Clicks a link or a GET form's button and waits for the page it leads to. A click only starts the
    /// navigation: until the new page has loaded, lookups find the old page or nothing (seen in CI under load).</summary>
    private static void ClickAndLoad(IWebDriver browser, IWebElement element, string urlContains)
    {
        element.Click();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (browser.Url.Contains(urlContains, StringComparison.Ordinal)
                    && Equals(((IJavaScriptExecutor)browser).ExecuteScript("return document.readyState"), "complete")) return;
            }
            catch (WebDriverException) { } // the document went away mid-call: still navigating
            Thread.Sleep(100);
        }
        Assert.Fail($"the page did not reach '{urlContains}' within 60 s; the browser is at {browser.Url}");
    }

    private static int Number(string text) => int.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);

    private static void NoStackTrace(IWebDriver browser)
    {
        Assert.DoesNotContain("Exception", browser.PageSource);
        Assert.DoesNotContain("   at ", browser.PageSource);
    }

    [Fact]
    public async Task Console_pages_in_a_browser_show_the_json_apis_figures_retry_stop_delete_and_readable_errors()
    {
        var container = "console-browser";
        var media = Directory.CreateTempSubdirectory("lvmae-console-").FullName;
        var settings = new LvMaeSiloSettings
        {
            Storage = new StorageOptions { ConnectionString = fixture.Azurite.ConnectionString, Container = container },
            Clustering = new ClusteringOptions { SiloPort = SiloHostTests.FreePort(), GatewayPort = SiloHostTests.FreePort(), ClusterId = container, ServiceId = container },
            Processing = new ProcessingOptions { MaxConcurrentJobs = 2, MaxAttempts = 1, RetryBaseDelay = TimeSpan.FromMilliseconds(100), DispatchInterval = TimeSpan.FromSeconds(1) },
            Api = new ApiOptions { Port = 0, ApiKey = Key },
            Training = new TrainingOptions { StepDelay = TimeSpan.FromMilliseconds(40), ReportInterval = TimeSpan.FromSeconds(1) },
            Logging = new HostLoggingOptions { MinimumLevel = Microsoft.Extensions.Logging.LogLevel.Warning },
        };
        await using var silo = await LvMaeSiloHost.StartAsync(settings, configureSilo: s => s.Services.AddSingleton<IMediaWork>(sp =>
            new FlakyMediaWork(new MediaWork(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ProcessingOptions>>()), sp.GetRequiredService<ScratchSpace>())));
        using var http = new HttpClient { BaseAddress = silo.ApiAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Add(StatusApi.ApiKeyHeader, Key);

        // The corpus: 16 imported videos (two classes, train/test), a transient failure, a permanent one.
        await using var client = await LvMaeClient.ConnectAsync(settings);
        var blobs = new BlobStore(settings.Storage.ConnectionString, container);
        var ingestor = new VideoIngestor(blobs, client.Grains);
        var rng = new Random(5);
        for (var v = 0; v < 16; v++)
        {
            var segments = 6 + rng.Next(10);
            var data = new float[segments * Dim];
            for (var k = 0; k < data.Length; k++) data[k] = (v % 2 == 0 ? 1f : -1f) * ((k % Dim) < Dim / 2 ? 1f : 0f) + 0.5f * (float)(rng.NextDouble() - 0.5);
            var path = Path.Combine(media, $"console-v{v:D2}.npy");
            NpyArray.FromFloats(data, segments, Dim).Write(path);
            await ingestor.ImportEmbeddingsAsync(path, Encoder, [v % 2 == 0 ? "cls=a" : "cls=b", v % 4 < 2 ? "split=train" : "split=test"]);
        }
        var flaky = Path.Combine(media, "flaky.mp4");
        await TestVideos.GenerateAsync(flaky, 6, "testsrc2", size: 32, fps: 5);
        var (flakyId, _) = await VideoIngestor.ContentIdAsync(flaky);
        FlakyMediaWork.Failures[flakyId] = 1000;
        await ingestor.IngestFileAsync(flaky, "builtin", ["cls=a"]);
        var notVideo = Path.Combine(media, "notes.mp4");
        await File.WriteAllTextAsync(notVideo, "this is not a video, just text with an .mp4 name\n");
        var notVideoId = (await ingestor.IngestFileAsync(notVideo, "builtin", ["cls=b"])).VideoId;

        async Task<CorpusSummary> SettledAsync(Func<CorpusSummary, bool> until)
        {
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (true)
            {
                var s = (await http.GetFromJsonAsync<CorpusSummary>("/corpus/summary", ApiTests.Json))!;
                if (until(s) || DateTime.UtcNow > deadline) return s;
                await Task.Delay(300);
            }
        }
        var summary = await SettledAsync(s => s.Total == 18 && s.ByStage.GetValueOrDefault(VideoStage.Embedded) == 16 && s.ByStage.GetValueOrDefault(VideoStage.Failed) == 2);
        Assert.Equal(2, summary.ByStage.GetValueOrDefault(VideoStage.Failed));

        // A finished run with probes, then one that trains until stopped.
        var config = new TrainingRunConfig
        {
            Preset = "tiny", Encoder = Encoder, Steps = 12, CheckpointEvery = 6, ProbeEvery = 0, BatchSize = 4, MaxTokens = 32, Window = "10..160",
            Device = "cpu", TorchThreads = 1, Seed = 1, ProbeEpochs = 4, ProbeSeeds = 2,
        };
        var done = client.Grains.GetGrain<ITrainingRunGrain>("console-done");
        await done.Start(config);
        var deadline = DateTime.UtcNow.AddSeconds(180);
        TrainingProgress doneProgress;
        while (!((doneProgress = await done.GetProgress()) is { State: TrainingState.Done, Probing: false }) && DateTime.UtcNow < deadline)
        {
            Assert.NotEqual(TrainingState.Failed, doneProgress.State);
            await Task.Delay(500);
        }
        Assert.Equal(TrainingState.Done, doneProgress.State);
        Assert.NotEmpty(doneProgress.Probes);
        var longRun = client.Grains.GetGrain<ITrainingRunGrain>("console-long");
        await longRun.Start(config with { Steps = 1_000_000, ProbeEvery = -1, CheckpointEvery = 1_000_000 });

        using var browser = Browser();
        browser.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(60);
        var root = silo.ApiAddress!.ToString().TrimEnd('/');

        // A wrong key, then the right one through the page's form (it sets the HttpOnly cookie).
        browser.Navigate().GoToUrl(root + "/console");
        Assert.Contains("API key required", browser.Title);
        browser.FindElement(By.Id("apikey")).SendKeys("wrong-key");
        ClickAndLoad(browser, browser.FindElement(By.Id("apikey-go")), "apikey=wrong-key");
        Assert.Contains("API key required", browser.Title);
        NoStackTrace(browser);
        Shot(browser, "01-wrong-key");
        using (var keyless = new HttpClient { BaseAddress = silo.ApiAddress })
            Assert.Equal(HttpStatusCode.Unauthorized, (await keyless.GetAsync("/console/videos")).StatusCode);
        browser.FindElement(By.Id("apikey")).SendKeys(Key);
        ClickAndLoad(browser, browser.FindElement(By.Id("apikey-go")), "apikey=" + Key);
        Assert.StartsWith("Corpus", browser.Title);

        // Corpus: every figure equals GET /corpus/summary's.
        summary = (await http.GetFromJsonAsync<CorpusSummary>("/corpus/summary", ApiTests.Json))!;
        Assert.Equal(summary.Total, Number(Cell(browser, "corpus-totals", "videos")));
        Assert.Equal(summary.Segments, Number(Cell(browser, "corpus-totals", "segments (embedded videos)")));
        foreach (var stage in Enum.GetValues<VideoStage>())
            Assert.Equal(summary.ByStage.GetValueOrDefault(stage), Number(Cell(browser, "by-stage", stage.ToString(), 2)));
        foreach (var (encoder, count) in summary.ByEncoder) Assert.Equal(count, Number(Cell(browser, "by-encoder", encoder, 2)));
        foreach (var (label, count) in summary.ByLabel) Assert.Equal(count, Number(Cell(browser, "by-label", label, 2)));
        foreach (var (kind, count) in summary.FailuresByKind) Assert.Equal(count, Number(Cell(browser, "failures-by-kind", kind, 2)));
        Assert.Equal(2, summary.FailuresByKind.Count); // ToolFailed (retryable) and NotMedia (permanent)
        var flakyRow = browser.FindElement(By.CssSelector($"tr[data-video='{flakyId}']"));
        Assert.Contains("injected transient ffmpeg failure", flakyRow.Text);
        Assert.Empty(browser.FindElements(By.Id("retry-" + notVideoId))); // permanent: no retry offered
        Shot(browser, "02-corpus");

        // Retry the transient failure: it embeds this time.
        FlakyMediaWork.Failures[flakyId] = 0;
        browser.FindElement(By.Id("retry-" + flakyId)).Click();
        Assert.Contains("Retry requested", NoticeContaining(browser, "Retry requested"));
        summary = await SettledAsync(s => s.ByStage.GetValueOrDefault(VideoStage.Failed) == 1 && s.ByStage.GetValueOrDefault(VideoStage.Embedded) == 17);
        Assert.Equal(VideoStage.Embedded, (await http.GetFromJsonAsync<VideoStatus>($"/videos/{flakyId}", ApiTests.Json))!.Stage);
        browser.Navigate().GoToUrl(root + "/console");
        Assert.Equal(summary.ByStage[VideoStage.Failed], Number(Cell(browser, "by-stage", "Failed", 2)));
        Assert.Equal(summary.ByStage[VideoStage.Embedded], Number(Cell(browser, "by-stage", "Embedded", 2)));

        // The video list: filters through the form, then the next page; rows and counts equal GET /videos's.
        browser.Navigate().GoToUrl(root + "/console/videos");
        browser.FindElement(By.XPath("//select[@id='f-state']/option[text()='Embedded']")).Click();
        browser.FindElement(By.Id("f-label")).SendKeys("cls=a");
        var limit = browser.FindElement(By.Id("f-limit"));
        limit.Clear();
        limit.SendKeys("3");
        ClickAndLoad(browser, browser.FindElement(By.Id("f-go")), "limit=3");
        var api = await http.GetFromJsonAsync<VideoPage>("/videos?state=Embedded&label=cls%3Da&limit=3", ApiTests.Json);
        Assert.Equal($"{api!.Matching} matching videos", browser.FindElement(By.Id("matching")).Text);
        Assert.Equal(api.Items.Select(i => i.Id), browser.FindElements(By.CssSelector("#videos tr[data-video]")).Select(r => r.GetAttribute("data-video")));
        Shot(browser, "03-videos");
        ClickAndLoad(browser, browser.FindElement(By.Id("next-page")), "cursor=");
        var api2 = await http.GetFromJsonAsync<VideoPage>($"/videos?state=Embedded&label=cls%3Da&limit=3&cursor={Uri.EscapeDataString(api.Next!)}", ApiTests.Json);
        Assert.Equal(api2!.Items.Select(i => i.Id), browser.FindElements(By.CssSelector("#videos tr[data-video]")).Select(r => r.GetAttribute("data-video")));
        // An id prefix (the console's and the API's) narrows to that video.
        var prefix = flakyId[..8];
        browser.Navigate().GoToUrl($"{root}/console/videos?prefix={prefix}");
        var byPrefix = await http.GetFromJsonAsync<VideoPage>($"/videos?prefix={prefix}", ApiTests.Json);
        Assert.Equal(byPrefix!.Items.Select(i => i.Id), browser.FindElements(By.CssSelector("#videos tr[data-video]")).Select(r => r.GetAttribute("data-video")));
        Assert.Contains(flakyId, byPrefix.Items.Select(i => i.Id));

        // One video, reached by its link.
        ClickAndLoad(browser, browser.FindElement(By.LinkText(flakyId)), "/console/videos/" + flakyId);
        var status = (await http.GetFromJsonAsync<VideoStatus>($"/videos/{flakyId}", ApiTests.Json))!;
        Assert.Equal(status.Stage.ToString(), Cell(browser, "video", "state"));
        Assert.Equal(status.SegmentCount, Number(Cell(browser, "video", "segments")));
        Assert.Equal($"{status.Probe!.DurationSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s", Cell(browser, "video", "duration"));
        Assert.Equal(status.EmbeddingsBlob, Cell(browser, "blobs", "embeddings"));
        Shot(browser, "04-video");
        browser.Navigate().GoToUrl($"{root}/console/videos/{notVideoId}");
        Assert.Equal("NotMedia", Cell(browser, "failure", "kind"));
        Shot(browser, "05-video-failed");

        // Runs: the list, the finished run (curves from GET /runs/{name}/metrics, probe table from its progress).
        browser.Navigate().GoToUrl(root + "/console/runs");
        Assert.Equal(2, browser.FindElements(By.CssSelector("#runs tr[data-run]")).Count);
        ClickAndLoad(browser, browser.FindElement(By.LinkText("console-done")), "/console/runs/console-done");
        var metrics = await http.GetFromJsonAsync<JsonElement>("/runs/console-done/metrics?rows=200");
        var lossPoints = metrics.GetProperty("steps").EnumerateArray().Count(s => s.GetProperty("loss").ValueKind == JsonValueKind.Number);
        Assert.Equal(lossPoints.ToString(CultureInfo.InvariantCulture), browser.FindElement(By.Id("loss-chart")).GetAttribute("data-points"));
        Assert.True(lossPoints > 0);
        var progress = (await http.GetFromJsonAsync<TrainingProgress>("/runs/console-done/progress", ApiTests.Json))!;
        Assert.Equal("Done", Cell(browser, "run", "state"));
        Assert.Equal($"{progress.Step} of {progress.TotalSteps}", Cell(browser, "run", "step"));
        Assert.Equal(progress.Schedule!.WarmupSteps, Number(Cell(browser, "schedule", "warm-up steps")));
        foreach (var p in progress.Probes.Where(p => p.Top1 is not null))
            Assert.Equal(ProbeVerdict.Mean(p.Top1!.Value, p.Top1Sd), browser.FindElement(By.CssSelector($"#probes tr[data-key='{p.Column}/{p.Features}/{p.Probe}@{p.Step}'] td.top1")).Text);
        Assert.Contains(progress.Probes, p => p.Features == ProbeScore.Majority);
        Assert.Contains(progress.Probes, p => p.Features == ProbeScore.Raw);
        Shot(browser, "06-run-done");

        // The long run: stop it from its page.
        browser.Navigate().GoToUrl(root + "/console/runs/console-long");
        Assert.Equal("Training", Cell(browser, "run", "state"));
        Shot(browser, "07-run-training");
        browser.FindElement(By.Id("stop")).Click();
        Assert.Contains("Stop requested", NoticeContaining(browser, "Stop requested"));
        deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await longRun.GetProgress()).State != TrainingState.Stopped && DateTime.UtcNow < deadline) await Task.Delay(250);
        Assert.Equal(TrainingState.Stopped, (await http.GetFromJsonAsync<TrainingProgress>("/runs/console-long/progress", ApiTests.Json))!.State);
        browser.Navigate().Refresh();
        Assert.Equal("Stopped", Cell(browser, "run", "state"));
        Shot(browser, "08-run-stopped");
        // Delete needs its box ticked (the browser enforces it, the server too); then the run is gone.
        browser.FindElement(By.Id("delete-confirm")).Click();
        browser.FindElement(By.Id("delete")).Click();
        Assert.Contains("deleted", NoticeContaining(browser, "deleted"));
        Assert.Single(browser.FindElements(By.CssSelector("#runs tr[data-run]")));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/runs/console-long")).StatusCode);

        // Bad input: readable pages with the JSON API's status, no stack trace.
        foreach (var (path, code, text) in new[]
                 {
                     ("/console/videos/vnosuchvideo0000", 404, "no video 'vnosuchvideo0000'"),
                     ("/console/videos/bad%20id%3Cx%3E", 400, "malformed video id 'bad id<x>'"),
                     ("/console/videos?state=Bogus", 400, "unknown state 'Bogus'"),
                     ("/console/videos?limit=abc", 400, "limit 'abc' must be a whole number"),
                     ("/console/videos?cursor=nope", 400, "malformed cursor 'nope'"),
                     ("/console/videos?stat=Failed", 400, "unknown query parameter 'stat'"),
                     ("/console/runs/no-such-run", 404, "no run 'no-such-run'"),
                     ("/console/nothing-here", 404, "no console page"),
                 })
        {
            Assert.Equal((HttpStatusCode)code, (await http.GetAsync(path)).StatusCode);
            browser.Navigate().GoToUrl(root + path);
            Assert.Contains(text, browser.FindElement(By.Id("error-message")).Text);
            NoStackTrace(browser);
        }
        Shot(browser, "09-bad-input");
        Assert.Equal(HttpStatusCode.BadRequest, (await http.PostAsync("/console/runs/console-done/delete", new FormUrlEncodedContent([]))).StatusCode); // unconfirmed
        try { Directory.Delete(media, true); } catch (IOException) { }
    }
}
