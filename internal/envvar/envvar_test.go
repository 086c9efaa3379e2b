package envvar

import (
	"strings"
	"testing"
	"time"
)

type conf struct {
	Name string
	N    int
	D    time.Duration
	On   bool
}

var table = Table[conf]{Part: "demo", Vars: []Var[conf]{
	{Name: "X_NAME", Default: "a", Help: "a name", Set: String(func(c *conf) *string { return &c.Name })},
	{Name: "X_N", Default: "3", Help: "a number", Set: Int(func(c *conf) *int { return &c.N }, 1, 9)},
	{Name: "X_D", Default: "1s", Help: "a wait", Set: Duration(func(c *conf) *time.Duration { return &c.D }, time.Millisecond, time.Minute)},
	{Name: "X_ON", Default: "1", Help: "a switch", Set: Bool(func(c *conf) *bool { return &c.On })},
}}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadSetsOnlyWhatIsSet(t *testing.T) {
	c := conf{Name: "kept", N: 5}
	if err := table.Load(&c, getenv(map[string]string{"X_D": " 2s ", "X_ON": "true"})); err != nil {
		t.Fatal(err)
	}
	if c != (conf{Name: "kept", N: 5, D: 2 * time.Second, On: true}) {
		t.Fatalf("%+v", c)
	}
	strict := table
	strict.Strict = true
	var d conf
	if err := strict.Load(&d, getenv(nil)); err != nil || d != (conf{Name: "a", N: 3, D: time.Second, On: true}) {
		t.Fatalf("strict defaults: %+v %v", d, err)
	}
}

// Every problem is reported, each naming its variable and never the value.
func TestLoadReportsEveryProblemWithoutTheValue(t *testing.T) {
	var c conf
	err := table.Load(&c, getenv(map[string]string{"X_N": "s3cr3t-value", "X_D": "s3cr3t-value", "X_ON": "s3cr3t-value"}))
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error echoes the value: %v", err)
	}
	names := Names(err)
	if len(names) != 3 || !names["X_N"] || !names["X_D"] || !names["X_ON"] {
		t.Errorf("Names = %v (%v)", names, err)
	}
}

func TestHelp(t *testing.T) {
	h := Help(table.Docs())
	if !strings.Contains(h, "  X_N\n      demo: a number (default \"3\")\n") {
		t.Errorf("help:\n%s", h)
	}
}
