/**
 * Texts for the stable codes the printer drivers and the queue's fit check put into the API
 * (state.notices[].code, state.error.code, DriverError codes, items' waitingReason.code, alert codes),
 * with their params as vue-i18n placeholders. HMS notices and Bambu errors also carry their own
 * `messages: {en, zh}`; these are the fallbacks and the texts for codes without such a pair.
 */
export default {
  en: {
    drivers: {
      notice: {
        printer_state_unknown: 'The printer reports a state this driver does not know: {state} ({field})',
        hms_listed: 'Printer notice {hms}',
        hms_unlisted: 'Printer code {hms}, not in Bambu’s HMS list (the printer’s screen does not show it)',
        verify_failed:
          'The printer rejects control commands: enable LAN Only mode and Developer Mode on the printer (the running print continues)',
      },
      error: {
        verify_failed: 'The printer rejected a control command (verify failed): enable LAN Only mode and Developer Mode on the printer',
        printer_paused_fault: 'The printer paused itself (stage {stage})',
        command_refused: 'The printer refused {command} (error code {errCodeHex})',
        printer_busy: 'The printer is busy and refused the job',
        printer_error: 'The printer reports an error and cannot take a job',
        start_refused: 'The printer refused the job; it did not start',
      },
      waitReason: {
        printer_model_unknown: 'Waiting: the file is sliced for {fileModel}, and the printer has not said which model it is',
        printer_nozzle_unknown: 'Waiting: the file is sliced for a {fileNozzle} mm nozzle, and the printer has not said which nozzle it has',
        printer_model_mismatch: 'Sliced for {fileModel}, the printer is a {printerModel}',
        printer_nozzle_mismatch: 'Sliced for a {fileNozzle} mm nozzle, the printer has {printerNozzle} mm',
        file_kind_unsupported: 'The printer does not print .{kind} files',
        no_printer_fits: 'No printer fits this file',
      },
      alert: {
        start_refused: '{printerName} refused job {jobId} ({reason})',
        queue_paused_printer_error: '{printerName} stopped: {reason} — the queue is paused',
      },
    },
  },
  'zh-CN': {
    drivers: {
      notice: {
        printer_state_unknown: '打印机报告了驱动不认识的状态：{state}（{field}）',
        hms_listed: '打印机提示 {hms}',
        hms_unlisted: '打印机代码 {hms}，不在拓竹 HMS 列表中（打印机屏幕不显示）',
        verify_failed: '打印机拒绝控制指令：请在打印机上开启“仅局域网”模式和开发者模式（当前打印继续进行）',
      },
      error: {
        verify_failed: '打印机拒绝了控制指令（验证失败）：请在打印机上开启“仅局域网”模式和开发者模式',
        printer_paused_fault: '打印机已自行暂停（阶段 {stage}）',
        command_refused: '打印机拒绝了 {command}（错误码 {errCodeHex}）',
        printer_busy: '打印机忙，拒绝了该任务',
        printer_error: '打印机报告错误，无法接收任务',
        start_refused: '打印机拒绝了该任务，任务未开始',
      },
      waitReason: {
        printer_model_unknown: '等待中：文件为 {fileModel} 切片，而打印机尚未报告其型号',
        printer_nozzle_unknown: '等待中：文件为 {fileNozzle} mm 喷嘴切片，而打印机尚未报告其喷嘴',
        printer_model_mismatch: '文件为 {fileModel} 切片，打印机是 {printerModel}',
        printer_nozzle_mismatch: '文件为 {fileNozzle} mm 喷嘴切片，打印机喷嘴为 {printerNozzle} mm',
        file_kind_unsupported: '该打印机不能打印 .{kind} 文件',
        no_printer_fits: '没有适合此文件的打印机',
      },
      alert: {
        start_refused: '{printerName} 拒绝了任务 {jobId}（{reason}）',
        queue_paused_printer_error: '{printerName} 已停止：{reason}——队列已暂停',
      },
    },
  },
};
