package daemon

import (
	"sync"
	"time"

	"github.com/rs/zerolog/log"
)

// logInterval is the least time between two log lines of one kind, so a
// sink failing every write does not flood the journal.
const logInterval = 10 * time.Second

var (
	logMu   sync.Mutex
	logLast = map[string]time.Time{}
	logSkip = map[string]int{}
)

// logEvery logs an error of kind key at most once per logInterval, with
// how many were suppressed since the last line.
func logEvery(key, msg, what string) {
	logMu.Lock()
	now := time.Now()
	if now.Sub(logLast[key]) < logInterval {
		logSkip[key]++
		logMu.Unlock()
		return
	}
	skipped := logSkip[key]
	logLast[key], logSkip[key] = now, 0
	logMu.Unlock()
	log.Error().Str("what", what).Int("suppressed", skipped).Msg(msg)
}
