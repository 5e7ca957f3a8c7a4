// Types for the one file of spdy-transport the simulator uses: the zlib dictionaries of SPDY's header blocks.
declare module 'spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js' {
  /** By SPDY version (2, 3, 3.1): the preset dictionary header blocks are compressed with. */
  const dictionary: Record<string, Buffer>
  export default dictionary
}
