"""CD mastering: the disc layout, cue sheet + image, DDP 2.0 fileset, CD-Text, Red Book."""
