/** qoijs 1.0.0 ships no types: the decoder's documented shape (README, src/decode.js). */
declare module 'qoijs' {
  interface QoiImage {
    width: number;
    height: number;
    channels: 3 | 4;
    colorspace: number;
    data: Uint8Array;
  }
  const QOI: {
    /** Throws on a bad signature, channel count, colour space or an incomplete image. */
    decode(buffer: ArrayBufferLike, byteOffset?: number, byteLength?: number, outputChannels?: 3 | 4): QoiImage;
  };
  export default QOI;
}
