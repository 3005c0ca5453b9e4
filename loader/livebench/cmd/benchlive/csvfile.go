package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
)

// csvHeader is the CSV's columns, in result's field order.
var csvHeader = []string{"mode", "receiver", "rep", "pace_mpps", "offered", "received", "accounted", "lost", "exact",
	"seconds", "mpps", "rx_mpps", "cpu_busy_s", "cpu_proc_s", "ns_per_pkt", "note"}

// csvOut appends results to a CSV file, a header first when it is new.
type csvOut struct {
	f *os.File
	w *csv.Writer
}

func openCSV(path string) (*csvOut, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	o := &csvOut{f: f, w: csv.NewWriter(f)}
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		o.w.Write(csvHeader)
	}
	return o, nil
}

// write appends one row and flushes it: an interrupted run keeps its rows.
func (o *csvOut) write(r result) error {
	g := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	o.w.Write([]string{r.Mode, r.Receiver, strconv.Itoa(r.Rep), g(r.Pace), u(r.Offered), u(r.Received), u(r.Accounted), u(r.Lost),
		strconv.FormatBool(r.Exact), g(r.Seconds), g(r.Mpps), g(r.RxMpps), g(r.CPUBusy), g(r.CPUProc), g(r.NsPerPkt), r.Note})
	o.w.Flush()
	return o.w.Error()
}

func (o *csvOut) Close() error { return o.f.Close() }

// readCSV reads the rows benchlive run wrote; a malformed row is an error
// naming its line.
func readCSV(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []result
	for i, row := range rows {
		if i == 0 || len(row) > 0 && row[0] == "mode" {
			continue // header (one per appended session)
		}
		if len(row) != len(csvHeader) {
			return nil, fmt.Errorf("%s:%d: %d columns, want %d", path, i+1, len(row), len(csvHeader))
		}
		var r result
		errs := make([]error, len(csvHeader)) // by column
		r.Mode, r.Receiver = row[0], row[1]
		r.Rep, errs[2] = strconv.Atoi(row[2])
		r.Pace, errs[3] = strconv.ParseFloat(row[3], 64)
		r.Offered, errs[4] = strconv.ParseUint(row[4], 10, 64)
		r.Received, errs[5] = strconv.ParseUint(row[5], 10, 64)
		r.Accounted, errs[6] = strconv.ParseUint(row[6], 10, 64)
		r.Lost, errs[7] = strconv.ParseUint(row[7], 10, 64)
		r.Exact, errs[8] = strconv.ParseBool(row[8])
		r.Seconds, errs[9] = strconv.ParseFloat(row[9], 64)
		r.Mpps, errs[10] = strconv.ParseFloat(row[10], 64)
		r.RxMpps, errs[11] = strconv.ParseFloat(row[11], 64)
		r.CPUBusy, errs[12] = strconv.ParseFloat(row[12], 64)
		r.CPUProc, errs[13] = strconv.ParseFloat(row[13], 64)
		r.NsPerPkt, errs[14] = strconv.ParseFloat(row[14], 64)
		r.Note = row[15]
		for j, e := range errs {
			if e != nil {
				return nil, fmt.Errorf("%s:%d: column %s: %v", path, i+1, csvHeader[j], e)
			}
		}
		out = append(out, r)
	}
	return out, nil
}
