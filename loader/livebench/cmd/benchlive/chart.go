package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Chart geometry (pixels).
const (
	chartW    = 960
	labelW    = 150 // receiver names
	valueW    = 90  // room right of the longest bar for its value
	rowH      = 38  // one receiver: one bar per mode
	barH      = 14
	topMargin = 56
	axisH     = 40
)

var (
	chartBg    = color.RGBA{255, 255, 255, 255}
	chartInk   = color.RGBA{30, 30, 30, 255}
	chartGrid  = color.RGBA{225, 225, 225, 255}
	modeColors = []color.RGBA{{52, 101, 164, 255}, {237, 125, 49, 255}, {112, 173, 71, 255}}
)

// writeChart draws the medians as horizontal bars, one per mode for each
// receiver, with the min–max spread as a whisker, and writes a PNG.
func writeChart(path string, s summary) error {
	var modes, receivers []string
	seen := map[string]bool{}
	maxV := 0.0
	for _, c := range s.Cells {
		if !seen["m"+c.Mode] {
			seen["m"+c.Mode] = true
			modes = append(modes, c.Mode)
		}
		maxV = math.Max(maxV, c.MppsMax)
	}
	for _, r := range receiverSpecs { // run order
		for _, c := range s.Cells {
			if c.Receiver == r.name && !seen["r"+r.name] {
				seen["r"+r.name] = true
				receivers = append(receivers, r.name)
			}
		}
	}
	if maxV <= 0 {
		maxV = 1
	}
	step := niceStep(maxV)
	top := math.Ceil(maxV/step) * step
	h := topMargin + rowH*len(receivers) + axisH
	img := image.NewRGBA(image.Rect(0, 0, chartW, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{chartBg}, image.Point{}, draw.Src)
	plotW := chartW - labelW - valueW
	x := func(v float64) int { return labelW + int(v/top*float64(plotW)) }

	text(img, 10, 18, "Live benchmark: packets accounted per second (Mpps, median of runs; whisker = min-max)")
	text(img, 10, 34, fmt.Sprintf("%d CPUs, %s, kernel %s", s.Machine.CPUs, s.Machine.Model, s.Machine.Kernel))
	for i, m := range modes {
		lx := labelW + i*170
		fill(img, lx, 42, lx+12, 52, modeColors[i%len(modeColors)])
		text(img, lx+16, 52, m)
	}
	// Grid and axis.
	yAxis := topMargin + rowH*len(receivers)
	decimals := max(0, int(-math.Floor(math.Log10(step))))
	for k := 0; float64(k)*step <= top+step/2; k++ { // bounded: at most 11 lines
		v := float64(k) * step
		gx := x(v)
		fill(img, gx, topMargin-4, gx+1, yAxis, chartGrid)
		text(img, gx-8, yAxis+16, fmt.Sprintf("%.*f", decimals, v))
	}
	text(img, labelW+plotW/2-20, yAxis+32, "Mpps")
	for ri, r := range receivers {
		y0 := topMargin + ri*rowH
		text(img, 8, y0+rowH/2+4, r)
		for mi, m := range modes {
			for _, c := range s.Cells {
				if c.Receiver != r || c.Mode != m {
					continue
				}
				by := y0 + 4 + mi*(barH+2)
				fill(img, labelW, by, max(x(c.Mpps), labelW+1), by+barH, modeColors[mi%len(modeColors)])
				// Whisker: min..max through the bar's middle.
				fill(img, x(c.MppsMin), by+barH/2, max(x(c.MppsMax), x(c.MppsMin)+1), by+barH/2+1, chartInk)
				fill(img, x(c.MppsMin), by+2, x(c.MppsMin)+1, by+barH-2, chartInk)
				fill(img, x(c.MppsMax), by+2, x(c.MppsMax)+1, by+barH-2, chartInk)
				text(img, x(c.MppsMax)+4, by+barH-2, fmt.Sprintf("%.2f", c.Mpps))
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// niceStep is a grid step of 1, 2 or 5 times a power of ten giving 4..10 lines.
func niceStep(maxV float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(maxV)))
	for _, m := range []float64{0.1, 0.2, 0.5, 1, 2, 5} {
		if maxV/(p*m) <= 10 {
			return p * m
		}
	}
	return p * 10
}

func fill(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), &image.Uniform{c}, image.Point{}, draw.Src)
}

func text(img *image.RGBA, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: &image.Uniform{chartInk}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
