package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Line    int
	Keyword string // upper case: FROM, RUN, ...
	Args    string
}

// stage is one FROM and the instructions under it.
type stage struct {
	From         instruction
	Instructions []instruction
}

// parseDockerfile splits a Dockerfile into stages. It knows only what the
// checks below need: comments, line continuations and keywords.
func parseDockerfile(text string) []stage {
	var stages []stage
	var cur *instruction
	flush := func() {
		if cur == nil {
			return
		}
		if cur.Keyword == "FROM" {
			stages = append(stages, stage{From: *cur})
		} else if len(stages) > 0 {
			stages[len(stages)-1].Instructions = append(stages[len(stages)-1].Instructions, *cur)
		}
		cur = nil
	}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue // comments may sit inside a continued instruction too
		}
		body, continued := strings.CutSuffix(trimmed, "\\")
		body = strings.TrimSpace(body)
		if cur == nil {
			kw, args, _ := strings.Cut(body, " ")
			cur = &instruction{Line: i + 1, Keyword: strings.ToUpper(kw), Args: strings.TrimSpace(args)}
		} else {
			cur.Args += " " + body
		}
		if !continued {
			flush()
		}
	}
	flush()
	return stages
}

// args returns the stage's instructions with the keyword.
func (s stage) all(keyword string) []instruction {
	var out []instruction
	for _, in := range s.Instructions {
		if in.Keyword == keyword {
			out = append(out, in)
		}
	}
	return out
}

// image returns the FROM line's image, without --platform and AS NAME.
func (s stage) image() string {
	for _, f := range strings.Fields(s.From.Args) {
		if !strings.HasPrefix(f, "--") {
			return f
		}
	}
	return ""
}

// checkDockerfile returns every way the Dockerfile falls short of what the
// chart and the release process rely on.
func checkDockerfile(text, goMinor string) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	stages := parseDockerfile(text)
	if len(stages) < 2 {
		return []error{fmt.Errorf("%d stage(s), want a builder and a final stage", len(stages))}
	}
	builder, final := stages[0], stages[len(stages)-1]

	if img := builder.image(); img != "golang:"+goMinor {
		fail("builder image %q, want golang:%s as go.mod says", img, goMinor)
	}
	var build *instruction
	for _, in := range builder.all("RUN") {
		if strings.Contains(in.Args, "go build") {
			build = &in
		}
	}
	if build == nil {
		fail("no RUN ... go build in the builder stage")
	} else {
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/eucs-agent"} {
			if !strings.Contains(build.Args, want) {
				fail("line %d: go build without %s", build.Line, want)
			}
		}
		if !hasArg(builder, "VERSION=dev", build.Line) {
			fail("no ARG VERSION=dev before the go build on line %d", build.Line)
		}
	}

	img := final.image()
	if img != "scratch" && !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot$`).MatchString(img) {
		fail("final image %q, want gcr.io/distroless/static-debian12:nonroot or scratch: no shell, no package manager", img)
	}
	if runs := final.all("RUN"); len(runs) > 0 {
		fail("line %d: RUN in the final stage; a distroless image has no shell", runs[0].Line)
	}
	users := final.all("USER")
	if len(users) == 0 {
		fail("the final stage sets no USER; it would run as root")
	} else if u := users[len(users)-1].Args; u != fmt.Sprintf("%d:%d", nonrootUser, nonrootUser) {
		fail("USER %s, want %d:%d, numeric so that runAsNonRoot can verify it and equal to the chart's runAsUser", u, nonrootUser, nonrootUser)
	}
	if got := execForm(final, "ENTRYPOINT"); !slices.Equal(got, []string{"/eucs-agent"}) {
		fail("ENTRYPOINT %q, want [\"/eucs-agent\"] in exec form", got)
	}
	if got, want := execForm(final, "CMD"), []string{"run", "--config", configPath}; !slices.Equal(got, want) {
		fail("CMD %q, want %q in exec form", got, want)
	}
	for _, arg := range []string{"VERSION", "REVISION"} {
		if !hasArg(final, arg, 0) {
			fail("the final stage does not declare ARG %s for its labels", arg)
		}
	}
	labels := strings.Join(argsOf(final.all("LABEL")), " ")
	for _, want := range []string{`org.opencontainers.image.version="${VERSION}"`, `org.opencontainers.image.revision="${REVISION}"`} {
		if !strings.Contains(labels, want) {
			fail("no LABEL %s", want)
		}
	}
	return errs
}

// hasArg reports whether the stage declares ARG decl (NAME or NAME=default)
// before line (0: anywhere).
func hasArg(s stage, decl string, before int) bool {
	for _, in := range s.all("ARG") {
		if (before == 0 || in.Line < before) && (in.Args == decl || strings.HasPrefix(in.Args, decl+"=")) {
			return true
		}
	}
	return false
}

// execForm returns the JSON array of the stage's last keyword instruction,
// or nil when it is missing or in shell form.
func execForm(s stage, keyword string) []string {
	ins := s.all(keyword)
	if len(ins) == 0 {
		return nil
	}
	var out []string
	if json.Unmarshal([]byte(ins[len(ins)-1].Args), &out) != nil {
		return nil
	}
	return out
}

func argsOf(ins []instruction) []string {
	var out []string
	for _, in := range ins {
		out = append(out, in.Args)
	}
	return out
}

// goMinor reads the go directive's major.minor from the agent's go.mod.
func goMinor(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

func readDockerfile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestDockerfile(t *testing.T) {
	if errs := checkDockerfile(readDockerfile(t), goMinor(t)); len(errs) > 0 {
		t.Fatalf("Dockerfile:\n%v", errors.Join(errs...))
	}
}

func TestDockerfileChecksCatchRegressions(t *testing.T) {
	// Each check must fire on the regression it exists for, or the test
	// above proves nothing.
	good := readDockerfile(t)
	tests := []struct {
		name, old, new, want string
	}{
		{"cgo on", "CGO_ENABLED=0 GOOS", "CGO_ENABLED=1 GOOS", "go build without CGO_ENABLED=0"},
		{"no version stamp", "-X main.version=${VERSION}", "", "go build without -X main.version=${VERSION}"},
		{"no version arg", "ARG VERSION=dev\n# CGO", "# CGO", "no ARG VERSION=dev before the go build"},
		{"other Go minor", "golang:1.26 AS", "golang:1.25 AS", `builder image "golang:1.25", want golang:1.26`},
		{"root user", "USER 65532:65532", "USER root", "USER root, want 65532:65532"},
		{"no user", "USER 65532:65532", "", "the final stage sets no USER"},
		{"image with a shell", "gcr.io/distroless/static-debian12:nonroot", "debian:12", `final image "debian:12"`},
		{"shell-form entrypoint", `ENTRYPOINT ["/eucs-agent"]`, "ENTRYPOINT /eucs-agent", `ENTRYPOINT [], want ["/eucs-agent"]`},
		{"RUN in the final stage", "USER 65532:65532", "RUN chown -R 65532 /var/lib\nUSER 65532:65532", "RUN in the final stage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("the Dockerfile no longer contains %q; update this test", tt.old)
			}
			bad := strings.Replace(good, tt.old, tt.new, 1)
			errs := errors.Join(checkDockerfile(bad, goMinor(t))...)
			if errs == nil || !strings.Contains(errs.Error(), tt.want) {
				t.Errorf("errors %v, want one saying %q", errs, tt.want)
			}
		})
	}
}

func TestDockerignoreKeepsSecretsAndHistoryOut(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for _, want := range []string{".git", "**/*.pem", "evidence", "state"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}
