//go:build ignore

// gen_icons draws the Teams app icons: color.png (192x192, a white "K" and
// an exit arrow on Kinetic's accent color, filling the square as Teams
// asks) and outline.png (32x32, the same mark in white on transparent).
// Run from deployments/teams: go run gen_icons.go
package main

import (
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

// seg is a thick line from (x0,y0) to (x1,y1) in unit coordinates (0..1).
type seg struct{ x0, y0, x1, y1, w float64 }

// The mark: a K whose upper arm continues as an arrow pointing out.
var mark = []seg{
	{0.30, 0.22, 0.30, 0.78, 0.13}, // stem
	{0.34, 0.52, 0.66, 0.24, 0.12}, // upper arm
	{0.40, 0.47, 0.70, 0.78, 0.12}, // lower leg
	{0.66, 0.24, 0.50, 0.24, 0.09}, // arrow head, top
	{0.66, 0.24, 0.66, 0.40, 0.09}, // arrow head, side
}

// coverage is how much of the pixel centred at (x,y) (unit coordinates,
// pixel size px) the mark covers, by 4x4 supersampling.
func coverage(x, y, px float64) float64 {
	const n = 4
	hit := 0
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			sx := x + (float64(i)+0.5)/n*px - px/2
			sy := y + (float64(j)+0.5)/n*px - px/2
			for _, s := range mark {
				if dist(sx, sy, s) <= s.w/2 {
					hit++
					break
				}
			}
		}
	}
	return float64(hit) / (n * n)
}

func dist(x, y float64, s seg) float64 {
	dx, dy := s.x1-s.x0, s.y1-s.y0
	t := ((x-s.x0)*dx + (y-s.y0)*dy) / (dx*dx + dy*dy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(x-(s.x0+t*dx), y-(s.y0+t*dy))
}

func draw(size int, bg color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	px := 1 / float64(size)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			c := coverage((float64(x)+0.5)*px, (float64(y)+0.5)*px, px)
			// White over bg, by coverage.
			a := float64(bg.A)/255*(1-c) + c
			mix := func(ch uint8) uint8 {
				if a == 0 {
					return 255
				}
				v := (float64(ch)/255*float64(bg.A)/255*(1-c) + c) / a
				return uint8(math.Round(v * 255))
			}
			img.SetNRGBA(x, y, color.NRGBA{mix(bg.R), mix(bg.G), mix(bg.B), uint8(math.Round(a * 255))})
		}
	}
	return img
}

func write(name string, img image.Image) {
	f, err := os.Create(name)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

func main() {
	write("color.png", draw(192, color.NRGBA{0x1f, 0x29, 0x37, 0xff}))
	write("outline.png", draw(32, color.NRGBA{}))
}
