package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/data"
)

func newDataShardCmd() *cobra.Command {
	var o data.ShardWriteOptions
	var skipCorrupt bool
	cmd := &cobra.Command{
		Use:   "shard FOLDER OUTDIR",
		Short: "Write an image folder as tar shards (WebDataset layout) for the shard loader",
		Long: `Writes the images of FOLDER (class subfolders optional, as data info reads it)
into OUTDIR/PREFIX-000000.tar, ...: per image key.jpg (the file's bytes, not
re-encoded), key.cls (its class index) and key.json (file and class names),
keys being the image's index in the folder's sorted order. The images are
spread across shards in an order seeded by --seed (--no-shuffle keeps the
sorted order, which puts one class in each shard). The output depends only
on the folder and the options. The shard index (` + data.ShardIndexName + `, record counts;
see ` + "`fdsm data index`" + `) is written with them. OUTDIR must not hold shards already.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := data.OpenImageFolder(args[0], data.ImageFolderOptions{SkipCorrupt: skipCorrupt})
			if err != nil {
				return err
			}
			log := logger()
			if skipCorrupt {
				bad, err := f.Validate(cmd.Context(), nil)
				if err != nil {
					return err
				}
				for _, p := range bad {
					log.Warn().Str("file", p).Msg("unreadable image left out")
				}
			}
			paths, err := data.WriteShards(f, args[1], o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d images into %d shards in %s\n", f.Len(), len(paths), args[1])
			return nil
		},
	}
	cmd.Flags().IntVar(&o.PerShard, "per-shard", 1000, "images per shard")
	cmd.Flags().StringVar(&o.Prefix, "prefix", "shard", "shard file name prefix")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 0, "seed of the order of images across shards")
	cmd.Flags().BoolVar(&o.NoShuffle, "no-shuffle", false, "keep the folder's sorted order")
	cmd.Flags().BoolVar(&skipCorrupt, "skip-corrupt", false, "decode every image first and leave out unreadable ones (logged)")
	return cmd
}
