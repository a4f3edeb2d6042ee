package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// SumMetric adds up the samples of one metric (every label set) in a
// Prometheus text exposition.
func SumMetric(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sum := 0.0
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("loadgen: metric line %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}
