// Command master writes a JPEG master creative for the load harness: the brand kit's
// "services" creative in its 6:5 layout (the one 300x250 and 336x280 are rendered
// from), with a different headline so it is not the built-in. deploy/bench/run.sh
// uploads it through the admin API, as an operator would.
package main

import (
	"flag"
	"image/jpeg"
	"log"
	"os"

	"github.com/refedge/refedge/banners/brand"
)

func main() {
	out := flag.String("o", "master.jpg", "output file")
	flag.Parse()
	c := brand.Creatives()[0]
	c.Headline = "Load harness: every kwork in one place"
	var layout brand.Layout
	for _, l := range brand.Layouts() {
		if l.Name == "rectangle" {
			layout = l
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := jpeg.Encode(f, brand.Draw(&c, &layout), &jpeg.Options{Quality: 92}); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
