package trafficgen

import (
	"encoding/json"
	"fmt"
	"io"
)

// TSVHeader is the header of the corpus truth files, shared with
// `vxtap analyze --format tsv`.
const TSVHeader = "#vni\tsrc\tdst\tproto\tsport\tdport\tpackets\tbytes"

// WriteTSV prints rows in the truth-file layout.
func WriteTSV(w io.Writer, rows []Row) error {
	if _, err := fmt.Fprintln(w, TSVHeader); err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", r.VNI, r.Src, r.Dst, r.Proto, r.SPort, r.DPort, r.Packets, r.Bytes); err != nil {
			return err
		}
	}
	return nil
}

// jsonRow is a row as JSON, with the field names of flow records.
type jsonRow struct {
	VNI     uint32 `json:"vni"`
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	Proto   uint8  `json:"proto"`
	SPort   uint16 `json:"sport"`
	DPort   uint16 `json:"dport"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// WriteJSON prints rows as JSON lines.
func WriteJSON(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	for _, r := range rows {
		if err := enc.Encode(jsonRow{r.VNI, r.Src.String(), r.Dst.String(), r.Proto, r.SPort, r.DPort, r.Packets, r.Bytes}); err != nil {
			return err
		}
	}
	return nil
}
