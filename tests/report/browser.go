package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Browser is Debian's headless Chromium, for looking at a report as a
// person would: it renders the page, reports console messages (script
// errors, blocked fetches) and takes screenshots. It runs in a network
// namespace of its own, so that it can fetch nothing and announce nothing,
// and without its sandbox, which needs privileges a test does not have.
type Browser struct {
	path string
}

// FindBrowser finds chromium on PATH.
func FindBrowser() (*Browser, error) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		return nil, errors.New("chromium not found: install Debian's chromium package (apt-get install chromium)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return nil, errors.New("unshare not found: install Debian's util-linux package")
	}
	return &Browser{path: path}, nil
}

// Page is what the browser made of an HTML file.
type Page struct {
	// DOM is the document after its scripts ran.
	DOM string
	// Console holds every console message: a page that works logs none.
	Console []string
}

// browserTimeout bounds one browser run; a cold start takes about 10 s on
// a busy 2-core machine.
const browserTimeout = 90 * time.Second

// Open renders the HTML file at path and returns its DOM and console.
func (b *Browser) Open(ctx context.Context, path string) (Page, error) {
	stdout, stderr, err := b.run(ctx, "--enable-logging=stderr", "--v=0", "--dump-dom", fileURL(path))
	if err != nil {
		return Page{}, err
	}
	return Page{DOM: stdout, Console: consoleMessages(stderr)}, nil
}

// Screenshot writes a PNG of the page at path, width pixels wide and
// height high.
func (b *Browser) Screenshot(ctx context.Context, path, png string, width, height int) error {
	png, err := filepath.Abs(png)
	if err != nil {
		return err
	}
	if _, _, err := b.run(ctx, "--hide-scrollbars", fmt.Sprintf("--window-size=%d,%d", width, height),
		"--screenshot="+png, fileURL(path)); err != nil {
		return err
	}
	if _, err := os.Stat(png); err != nil {
		return fmt.Errorf("chromium wrote no screenshot: %w", err)
	}
	return nil
}

func (b *Browser) run(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	profile, err := os.MkdirTemp("", "daprshop-chromium-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(profile)
	full := append([]string{"--user", "--map-root-user", "--net", b.path,
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-background-networking", "--disable-component-update",
		"--user-data-dir=" + profile}, args...)
	cmd := exec.CommandContext(ctx, "unshare", full...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("chromium %s: %w\n%s", strings.Join(args, " "), err, tail(errOut.String(), 20))
	}
	return out.String(), errOut.String(), nil
}

// consoleRe matches Chromium's log line for a console message, e.g.
// [1:1:1124/162525.45:INFO:CONSOLE:1] "boom", source: file:///x.html (1)
var consoleRe = regexp.MustCompile(`:CONSOLE(?::|\()\d*\)?\] (.*)$`)

// consoleMessages returns the page's console messages. Those whose source
// is the browser's own (chrome://, e.g. a "Slow network is detected" note
// from one of its components on a busy machine) say nothing of the page.
func consoleMessages(stderr string) []string {
	var out []string
	for line := range strings.Lines(stderr) {
		if m := consoleRe.FindStringSubmatch(strings.TrimSpace(line)); m != nil && !strings.Contains(m[1], "source: chrome://") {
			out = append(out, m[1])
		}
	}
	return out
}

var heightRe = regexp.MustCompile(`data-height="(\d+)"`)

// RenderedHeight is the page height the report's own script measured, 0
// when it did not run.
func (p Page) RenderedHeight() int {
	m := heightRe.FindStringSubmatch(p.DOM)
	if m == nil {
		return 0
	}
	h, _ := strconv.Atoi(m[1])
	return h
}

func fileURL(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return "file://" + abs
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Screenshot renders dir/report.html in the browser and keeps a PNG of the
// whole page beside it as report.png.
func Screenshot(ctx context.Context, dir string) error {
	_, err := CheckAndScreenshot(ctx, filepath.Join(dir, "report.html"), filepath.Join(dir, "report.png"))
	return err
}

// CheckAndScreenshot renders the page (report.html or compare.html) and
// writes a PNG of all of it. A page that logs to the console (a script
// error, a blocked fetch) or whose charts did not render is an error: the
// page must work offline, as it is. It returns what the browser made of
// the page.
func CheckAndScreenshot(ctx context.Context, page, png string) (Page, error) {
	b, err := FindBrowser()
	if err != nil {
		return Page{}, err
	}
	p, err := b.Open(ctx, page)
	if err != nil {
		return p, err
	}
	if len(p.Console) > 0 {
		return p, fmt.Errorf("%s logs to the browser console: %q", page, p.Console)
	}
	h := p.RenderedHeight()
	if h == 0 {
		return p, fmt.Errorf("%s: its charts did not render (no data-height mark in the DOM)", page)
	}
	return p, b.Screenshot(ctx, page, png, ScreenshotWidth, min(h, maxScreenshotHeight))
}

// ScreenshotWidth is the width report.png is taken at: a laptop's window.
const ScreenshotWidth = 1100

// maxScreenshotHeight keeps report.png a picture, not a poster.
const maxScreenshotHeight = 8000
