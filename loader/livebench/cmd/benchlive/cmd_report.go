package main

import (
	"flag"
	"fmt"
	"os"
)

func cmdReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var csvPath, jsonPath, pngPath, docPath, cmdline string
	fs.StringVar(&csvPath, "csv", "bench-live.csv", "CSV written by benchlive run")
	fs.StringVar(&jsonPath, "json", "", "write the summary (medians, spread, ratios, machine) as JSON here")
	fs.StringVar(&pngPath, "png", "", "write the chart here")
	fs.StringVar(&docPath, "doc", "", "replace the generated table between the bench-live markers of this Markdown file")
	fs.StringVar(&cmdline, "command", "", "the command that measured the CSV, quoted in the table's caption")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rows, err := readCSV(csvPath)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return fmt.Errorf("%s: no runs", csvPath)
	}
	sum := summarize(rows, machineInfo(), cmdline)
	table := sum.markdown()
	fmt.Print(table)
	if jsonPath != "" {
		if err := sum.writeJSON(jsonPath); err != nil {
			return err
		}
	}
	if pngPath != "" {
		if err := writeChart(pngPath, sum); err != nil {
			return err
		}
	}
	if docPath != "" {
		if err := replaceBetweenMarkers(docPath, table); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "benchlive: table updated in %s\n", docPath)
	}
	return nil
}
