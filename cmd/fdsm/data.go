package main

import (
	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/bench"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/device"
)

func newDataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Inspect datasets",
	}
	cmd.AddCommand(newDataInfoCmd(), newDataShardCmd(), newDataIndexCmd())
	return cmd
}

func newDataInfoCmd() *cobra.Command {
	var o data.OpenOptions
	var asJSON bool
	var limit, size int
	var skipCorrupt bool
	cmd := &cobra.Command{
		Use:   "info NAME|PATH",
		Short: "Shape, count, value range and per-channel mean/std of a dataset",
		Long: `NAME is one of: mnist, mnist-test, fashion-mnist(-test), cifar10(-test) (with
--data-dir), redwine, whitewine, parkinsons (train; -val and -test for the other
splits), toy:<preset>. PATH is a directory of images (class subfolders
optional), a directory of CIFAR-10 binary batches, an SVHN .mat file or an IDX
images file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Image.Size = size
			o.Image.SkipCorrupt = skipCorrupt
			o.DirHint = "--data-dir DIR"
			d, err := data.Open(args[0], o)
			if err != nil {
				return err
			}
			log := logger()
			if f, ok := d.(*data.ImageFolder); ok && skipCorrupt {
				bad, err := f.Validate(cmd.Context(), nil)
				if err != nil {
					return err
				}
				if len(bad) > 0 {
					log.Warn().Int("skipped", len(bad)).Str("first", bad[0]).Msg("unreadable images skipped")
				}
			}
			info, err := data.Describe(d, limit, func(done, total int) {
				if done%10000 == 0 {
					log.Info().Int("samples", done).Int("of", total).Msg("data info")
				}
			})
			if err != nil {
				return err
			}
			return printResult(cmd, asJSON, info)
		},
	}
	cmd.Flags().StringVar(&o.DataDir, "data-dir", "", "where a named dataset is read from (default: its standard location)")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 0, "seed of UCI dequantisation/noise and toy samples")
	cmd.Flags().IntVar(&size, "image-size", 32, "image folders: output size")
	cmd.Flags().IntVar(&limit, "limit", 0, "read only the first N samples (0: all)")
	cmd.Flags().BoolVar(&skipCorrupt, "skip-corrupt", false, "image folders: check every image first and skip unreadable ones (logged), instead of failing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newBenchDataCmd() *cobra.Command {
	var opts bench.DataOptions
	var asJSON bool
	var dev string
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Samples per second through the loader (MNIST, a folder of JPEGs, JPEG tar shards per decoder) against raw decoding",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := logger()
			opts.Progress = func(s string) { log.Info().Str("stage", s).Msg("bench data") }
			be, err := openDevice(dev)
			if err != nil {
				return err
			}
			opts.Backend = be
			res, err := bench.Data(opts)
			if err != nil {
				return err
			}
			return printResult(cmd, asJSON, res)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().IntVar(&opts.Batch, "batch", 128, "batch size")
	cmd.Flags().IntVar(&opts.Images, "images", 512, "JPEGs to write for the folder case")
	addDeviceFlag(cmd, &dev, device.Default)
	return cmd
}
