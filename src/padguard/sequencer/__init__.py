"""The safety sequencer: countdown states, launch commit criteria, holds, recycles, aborts."""
