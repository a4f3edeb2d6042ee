package main

import (
	"os"
	"testing"

	"github.com/optin-gateway/optin-gateway/internal/loadgen"
)

func TestRedisPerMessageLeavesOutTheInfoItself(t *testing.T) {
	d := loadgen.RedisStats{Reads: 201, Calls: map[string]int64{"info": 1, "evalsha": 100, "hmget": 100, "get": 250}}
	f := redisPerMessage(d, 100)
	if f.RoundTripsPerMessage != 2 {
		t.Errorf("round trips per message = %v; want 2 (201 reads, one of them the INFO)", f.RoundTripsPerMessage)
	}
	if _, ok := f.CommandsPerMessage["info"]; ok {
		t.Errorf("commands per message %v has info; want it left out", f.CommandsPerMessage)
	}
	if got := f.CommandsPerMessage["get"]; got != 2.5 {
		t.Errorf("get per message = %v; want 2.5", got)
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	for i := 0; cpuTime(os.Getpid()) == 0 && i < 1e8; i++ {
	}
	if got := cpuTime(os.Getpid()); got <= 0 {
		t.Errorf("cpuTime(self) = %v; want > 0 after spinning", got)
	}
}
