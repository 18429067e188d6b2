package cpustat

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestReadings burns CPU in this process and in a child and reads it back:
// each reading grows by what was spent, and a child's time shows in its
// parent's tree while it runs and as reaped time once it has been waited for.
func TestReadings(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	self := os.Getpid()
	m0, p0, r0 := Machine(), Process(self), Reaped(self)
	spent := time.Duration(0)
	for end := time.Now().Add(10 * time.Second); spent < 200*time.Millisecond && time.Now().Before(end); {
		spent = Process(self) - p0
	}
	if spent < 200*time.Millisecond {
		t.Errorf("this process's time grew by %s in 10 s of spinning", spent)
	}
	if d := Machine() - m0; d < spent-2*tick {
		t.Errorf("the machine spent %s while this process alone spent %s", d, spent)
	}
	child := exec.Command("sh", "-c", "while :; do :; done")
	if err := child.Start(); err != nil {
		t.Skip(err)
	}
	grew := false
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && !grew; time.Sleep(50 * time.Millisecond) {
		grew = Tree(self) > Process(self)
	}
	if !grew {
		t.Error("the tree's time never rose above the process's own while its child spun")
	}
	_ = child.Process.Kill()
	_ = child.Wait() // killed: its time is reaped all the same
	if d := Reaped(self) - r0; d <= 0 {
		t.Errorf("reaped time grew by %s after waiting for a busy child", d)
	}
	if Process(-1) != 0 || Tree(-1) != 0 {
		t.Error("a process that does not exist has CPU time")
	}
}
