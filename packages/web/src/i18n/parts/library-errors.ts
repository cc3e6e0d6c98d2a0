/**
 * Upload refusals by the server's error code (packages/server/src/library), with the error's params.
 * Codes not listed here show the server's own message (e.g. `invalid_file` names what is wrong).
 */
export default {
  en: {
    uploadErrors: {
      metadata_too_large: '{entry} is {mib} MiB, far more than any slicer writes (limit {limitMib} MiB): not a genuine sliced file',
      multiple_files: 'Send one file per upload',
      disk_full: 'Not enough free disk space: {freeMib} MiB free, and the server keeps {reserveMib} MiB free for its database',
      library_busy: 'The server is reading many uploads right now; try again in a moment',
      parse_timeout: 'Reading the file took longer than {seconds} s: it was refused',
      file_too_complex: 'Reading the file needed more than {memoryLimitMb} MiB of memory: it was refused',
      too_large: 'The file is larger than the upload limit ({limitMib} MiB)',
    },
  },
  'zh-CN': {
    uploadErrors: {
      metadata_too_large: '{entry} 有 {mib} MiB，远超任何切片软件写出的大小（上限 {limitMib} MiB）：不是真正的切片文件',
      multiple_files: '每次上传只能发送一个文件',
      disk_full: '磁盘空间不足：剩余 {freeMib} MiB，服务器需为数据库保留 {reserveMib} MiB',
      library_busy: '服务器正在读取大量上传文件，请稍后再试',
      parse_timeout: '读取文件超过 {seconds} 秒，已拒绝',
      file_too_complex: '读取文件需要超过 {memoryLimitMb} MiB 内存，已拒绝',
      too_large: '文件超过上传大小上限（{limitMib} MiB）',
    },
  },
};
