import {Flags} from '@oclif/core'

/** Flags the service commands share. */
export const serviceFlags = {
  // Tests: the files the steps write and read land under this directory instead of /.
  root: Flags.string({hidden: true}),
}
