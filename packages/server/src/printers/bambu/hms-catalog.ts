/**
 * Bambu's HMS list: the HMS codes for which the printer's screen and Bambu Studio show a text
 * (bambu-protocol.md §1.7). An entry the printer reports that is NOT in this list is only a note
 * (newer firmware — X2D, P2S, H2C — keeps such entries in every report without showing them).
 *
 * Texts are our own short wording of what the published list says (English and Chinese), keyed by
 * the 16-hex code `AAAA_AAAA_CCCC_CCCC`. The AMS and AMS Lite blocks follow one regular scheme per
 * unit and slot (module 07 = AMS, 12 = AMS Lite; `MMUU_FS00_SSSS_EEEE`, U = unit 0-3, F = function,
 * S = slot 0-3), so they are generated instead of spelled out. Sources: Bambu's HMS pages
 * (wiki.bambulab.com/…/hmscode/<code>) as mirrored in public open-source HMS tables; the structure
 * in docs/bambu-protocol.md §1.7.
 */

export type HmsText = { en: string; zh: string };

const t = (en: string, zh: string): HmsText => ({ en, zh });

/** Entries outside the AMS blocks. */
const FIXED: Record<string, HmsText> = {
  // 03 — motion controller
  '0300_0100_0001_0001': t('Heatbed temperature abnormal: the heater may be short-circuited', '热床温度异常：加热器可能短路'),
  '0300_0100_0001_0002': t('Heatbed temperature abnormal: the heater or thermal switch may be open', '热床温度异常：加热器或温控开关可能断路'),
  '0300_0100_0001_0003': t('Heatbed temperature abnormal: the heater is over temperature', '热床温度异常：加热器温度过高'),
  '0300_0100_0001_0006': t('Heatbed temperature abnormal: the sensor may be short-circuited', '热床温度异常：传感器可能短路'),
  '0300_0100_0001_0007': t('Heatbed temperature abnormal: the sensor may be open', '热床温度异常：传感器可能断路'),
  '0300_0100_0003_0008': t('Heatbed temperature above the limit was lowered to the limit', '热床温度超过上限，已自动调整为上限温度'),
  '0300_0200_0001_0001': t('Nozzle temperature abnormal: the heater may be short-circuited', '喷嘴温度异常：加热器可能短路'),
  '0300_0200_0001_0002': t('Nozzle temperature abnormal: the heater may be open', '喷嘴温度异常：加热器可能断路'),
  '0300_0200_0001_0003': t('Nozzle temperature abnormal: the heater is over temperature', '喷嘴温度异常：加热器温度过高'),
  '0300_0200_0001_0006': t('Nozzle temperature abnormal: the sensor may be short-circuited', '喷嘴温度异常：传感器可能短路'),
  '0300_0200_0001_0007': t('Nozzle temperature abnormal: the sensor may be open', '喷嘴温度异常：传感器可能断路'),
  '0300_0200_0001_0009': t('Nozzle temperature control abnormal: the hotend may not be installed', '喷嘴温度控制异常：热端可能未安装'),
  '0300_0300_0001_0001': t('The hotend fan is too slow or stopped', '热端风扇转速过低或停转'),
  '0300_0300_0002_0002': t('The hotend fan is slow', '热端风扇转速偏低'),
  '0300_0400_0002_0001': t('The part cooling fan is too slow or stopped', '模型冷却风扇转速过低或停转'),
  '0300_0500_0001_0001': t('The motor driver is overheating', '电机驱动器过热'),
  '0300_0600_0001_0001': t('Motor A has an open circuit', '电机 A 断路'),
  '0300_0600_0001_0002': t('Motor A has a short circuit', '电机 A 短路'),
  '0300_0600_0001_0003': t('Motor A resistance is abnormal', '电机 A 电阻异常'),
  '0300_0700_0001_0001': t('Motor B has an open circuit', '电机 B 断路'),
  '0300_0700_0001_0002': t('Motor B has a short circuit', '电机 B 短路'),
  '0300_0700_0001_0003': t('Motor B resistance is abnormal', '电机 B 电阻异常'),
  '0300_0800_0001_0001': t('Motor Z has an open circuit', '电机 Z 断路'),
  '0300_0800_0001_0002': t('Motor Z has a short circuit', '电机 Z 短路'),
  '0300_0800_0001_0003': t('Motor Z resistance is abnormal', '电机 Z 电阻异常'),
  '0300_0900_0001_0001': t('Motor E has an open circuit', '电机 E 断路'),
  '0300_0900_0001_0002': t('Motor E has a short circuit', '电机 E 短路'),
  '0300_0900_0001_0003': t('Motor E resistance is abnormal', '电机 E 电阻异常'),
  '0300_0D00_0001_0002': t('Heatbed homing failed: too much vibration around the printer', '热床回零失败：环境振动过大'),
  '0300_0D00_0001_0003': t('The build plate is not placed properly', '打印板未正确放置'),
  '0300_0D00_0001_000B': t('The Z axis seems stuck when moving up', 'Z 轴上升时似乎被卡住'),
  '0300_0D00_0002_0001': t('Heatbed homing abnormal: check the bed surface and the nozzle tip', '热床回零异常：请检查热床表面和喷嘴尖端'),
  '0300_0F00_0001_0001': t('Accelerometer data unavailable', '加速度计数据不可用'),
  '0300_1000_0002_0001': t('X axis resonance frequency is low: the belt may be loose', 'X 轴共振频率偏低：同步带可能松动'),
  '0300_1100_0002_0001': t('Y axis resonance frequency is low: the belt may be loose', 'Y 轴共振频率偏低：同步带可能松动'),
  '0300_1200_0002_0001': t('The toolhead front cover fell off', '工具头前盖脱落'),
  '0300_1800_0001_0001': t('Extrusion force sensor value is low: the nozzle may not be installed', '挤出力传感器数值偏低：喷嘴可能未安装'),
  '0300_1A00_0002_0001': t('The nozzle is wrapped in filament or the build plate is misplaced', '喷嘴被耗材包裹或打印板放置不正确'),
  '0300_1A00_0002_0002': t('The extrusion force sensor detects a clogged nozzle', '挤出力传感器检测到喷嘴堵塞'),
  '0300_2000_0001_0001': t('X axis homing abnormal', 'X 轴回零异常'),
  '0300_2000_0001_0002': t('Y axis homing abnormal', 'Y 轴回零异常'),
  '0300_4000_0002_0001': t('Serial data transmission is abnormal', '串口数据传输异常'),
  '0300_4100_0001_0001': t('Unstable system voltage: power-loss protection triggered', '系统电压不稳：已触发断电保护'),
  // 05 — mainboard / system
  '0500_0100_0002_0001': t('The media pipeline is malfunctioning', '媒体通路工作异常'),
  '0500_0100_0002_0002': t('The USB camera is not connected', 'USB 摄像头未连接'),
  '0500_0100_0002_0003': t('The USB camera is malfunctioning', 'USB 摄像头工作异常'),
  '0500_0100_0003_0004': t('Not enough space on the MicroSD card', 'MicroSD 卡空间不足'),
  '0500_0100_0003_0005': t('MicroSD card error: reinsert, format or replace it', 'MicroSD 卡错误：请重新插入、格式化或更换'),
  '0500_0100_0003_0006': t('The MicroSD card is not formatted', 'MicroSD 卡未格式化'),
  '0500_0100_0003_0007': t('No MicroSD card: timelapse cannot be recorded', '未插入 MicroSD 卡，无法录制延时摄影'),
  '0500_0200_0002_0001': t('Cannot connect to the internet', '无法连接互联网'),
  '0500_0200_0002_0002': t('Device login failed', '设备登录失败'),
  '0500_0200_0002_0004': t('Unauthorized user', '未授权的用户'),
  '0500_0200_0002_0006': t('The live view service is malfunctioning', '实时视频服务工作异常'),
  '0500_0300_0001_0001': t('The motion controller module is malfunctioning: restart the printer', '运动控制模块异常：请重启打印机'),
  '0500_0300_0001_0002': t('The toolhead is malfunctioning: restart the printer', '工具头异常：请重启打印机'),
  '0500_0300_0001_0003': t('The AMS module is malfunctioning: restart the printer', 'AMS 模块异常：请重启打印机'),
  '0500_0300_0001_000A': t('System state abnormal: restore factory settings', '系统状态异常：请恢复出厂设置'),
  '0500_0300_0001_000B': t('The screen is malfunctioning', '屏幕工作异常'),
  '0500_0300_0002_000C': t('Wireless hardware error: toggle Wi-Fi or restart the printer', '无线硬件错误：请开关 Wi-Fi 或重启打印机'),
  '0500_0300_0002_000D': t('The SD card controller is malfunctioning', 'SD 卡控制器工作异常'),
  '0500_0300_0002_0020': t('Not enough SD card space to cache print files', 'SD 卡空间不足，无法缓存打印文件'),
  '0500_0400_0001_0001': t('Failed to download the print job', '下载打印任务失败'),
  '0500_0400_0001_0002': t('Failed to report the print state', '上报打印状态失败'),
  '0500_0400_0001_0003': t('The print file is unreadable: send the job again', '打印文件无法读取：请重新发送打印任务'),
  '0500_0400_0001_0004': t('The print file is not authorized', '打印文件未授权'),
  '0500_0400_0001_0006': t('Failed to resume the previous print', '恢复上次打印失败'),
  '0500_0400_0002_0007': t('Bed temperature above the filament softening point may clog the nozzle', '热床温度超过耗材软化温度，可能导致喷嘴堵塞'),
  '0500_0400_0003_0008': t('The door is open', '检测到舱门打开'),
  '0500_0500_0001_0007': t('MQTT command verification failed', 'MQTT 指令验证失败'),
  // 07FF / 12FF — external spool
  '07FF_2000_0002_0001': t('External spool filament has run out', '外挂料盘耗材已用完'),
  '07FF_2000_0002_0002': t('External spool filament is missing', '外挂料盘无耗材'),
  '07FF_2000_0002_0004': t('Pull the external filament out of the extruder', '请将外挂耗材从挤出机中拔出'),
  '07FF_8012_0002_0001': t('Failed to get the AMS mapping table', '获取 AMS 映射表失败'),
  // 0C — camera / micro lidar / AI monitoring
  '0C00_0100_0001_0001': t('The micro lidar camera is offline', '微型激光雷达摄像头离线'),
  '0C00_0100_0002_0002': t('The micro lidar camera is malfunctioning', '微型激光雷达摄像头工作异常'),
  '0C00_0100_0001_0003': t('Micro lidar synchronization is abnormal', '微型激光雷达同步异常'),
  '0C00_0100_0001_0004': t('The micro lidar lens seems dirty', '微型激光雷达镜头可能脏污'),
  '0C00_0100_0002_0008': t('The chamber camera is offline: spaghetti detection unavailable', '腔体摄像头离线：炒面检测暂不可用'),
  '0C00_0100_0001_0009': t('The chamber camera lens seems dirty', '腔体摄像头镜头可能脏污'),
  '0C00_0100_0001_000B': t('Micro lidar calibration failed', '微型激光雷达标定失败'),
  '0C00_0200_0001_0001': t('The horizontal laser is not lit', '水平激光未点亮'),
  '0C00_0200_0002_0004': t('Nozzle height seems too low', '喷嘴高度似乎过低'),
  '0C00_0200_0001_0005': t('A new micro lidar was detected: calibrate it before use', '检测到新的微型激光雷达：使用前请先标定'),
  '0C00_0200_0002_0006': t('Nozzle height seems too high', '喷嘴高度似乎过高'),
  '0C00_0300_0002_0001': t('Filament exposure metering failed: first-layer inspection may be inaccurate', '耗材曝光测量失败：首层检测可能不准确'),
  '0C00_0300_0002_0002': t('First-layer inspection stopped: abnormal lidar data', '首层检测已终止：激光雷达数据异常'),
  '0C00_0300_0002_0004': t('First-layer inspection is not supported for this print job', '本次打印任务不支持首层检测'),
  '0C00_0300_0002_0005': t('First-layer inspection timed out: results may be inaccurate', '首层检测超时：结果可能不准确'),
  '0C00_0300_0003_0006': t('Purged filament may have piled up in the chute', '废料槽中可能堆积了冲刷耗材'),
  '0C00_0300_0003_0007': t('Possible first-layer defects detected', '检测到可能的首层缺陷'),
  '0C00_0300_0003_0008': t('Possible spaghetti defects detected', '检测到可能的炒面缺陷'),
  '0C00_0300_0001_0009': t('The first-layer inspection module restarted', '首层检测模块异常重启'),
  '0C00_0300_0003_000B': t('Inspecting the first layer', '正在进行首层检测'),
  '0C00_0300_0002_000C': t('Build plate marker not detected: check the plate alignment', '未检测到打印板定位标记：请检查打印板是否对齐'),
  '0C00_0300_0002_000F': t('Objects skipped before first-layer inspection: inspection not supported for this job', '首层检测前已跳过部分对象：本次任务不支持首层检测'),
  '0C00_0300_0003_000D': t('Objects may have fallen over or the extruder is not extruding', '可能有对象倒塌或挤出机未正常挤出'),
  '0C00_0300_0003_000E': t('The printer seems to print without extruding', '打印机似乎在空打（未挤出）'),
  '0C00_0300_0003_000F': t('The nozzle seems covered with jammed material', '喷嘴似乎被堵塞的材料包裹'),
};

const unitName = (module: string, unit: number) => `${module === '12' ? 'AMS Lite' : 'AMS'} ${unit + 1}`;

/**
 * The regular AMS / AMS Lite entries: `MMUU_FS00_SSSS_EEEE`. Returns null for anything outside
 * the scheme (then the code is not in the list).
 */
function amsText(full: string): HmsText | null {
  const m = /^(07|12)(0[0-3])_([0-9A-F])([0-9A-F])00_(000[1-3])_(000[1-5])$/.exec(full);
  if (!m) return null;
  const [, module, unitHex, fn, slotHex, sev, err] = m;
  const unit = unitName(module, Number.parseInt(unitHex, 16));
  const s = Number.parseInt(slotHex, 16);
  const key = `${fn}|${sev}_${err}`;
  if (s > 3) return null;
  const slot = `${unit} slot ${s + 1}`;
  const zhSlot = `${unit} 槽位 ${s + 1}`;
  switch (key) {
    case '1|0001_0001':
      return t(`${slot} motor slipped`, `${zhSlot} 电机打滑`);
    case '1|0001_0003':
      return t(`${slot} motor torque control malfunction`, `${zhSlot} 电机扭矩控制异常`);
    case '1|0002_0002':
      return t(`${slot} motor overloaded: filament may be tangled or stuck`, `${zhSlot} 电机过载：耗材可能缠绕或卡住`);
    case '2|0002_0001':
      return t(`${slot} filament has run out`, `${zhSlot} 耗材已用完`);
    case '2|0002_0002':
      return t(`${slot} is empty`, `${zhSlot} 为空`);
    case '2|0002_0003':
      return t(`${slot} filament may be broken in the AMS or PTFE tube`, `${zhSlot} 耗材可能在 AMS 或 PTFE 管内断裂`);
    case '2|0002_0004':
      return t(`${slot} filament may be broken in the toolhead`, `${zhSlot} 耗材可能在工具头内断裂`);
    case '2|0002_0005':
      return t(`${slot} filament ran out and purging went wrong`, `${zhSlot} 耗材已用完且冲刷旧耗材异常`);
    case '2|0003_0001':
      return t(`${slot} filament ran out: purging the old filament`, `${zhSlot} 耗材已用完：正在冲刷旧耗材`);
    case '2|0003_0002':
      return t(`${slot} filament ran out: switched to a slot with the same filament`, `${zhSlot} 耗材已用完：已自动切换到相同耗材的槽位`);
    case '3|0001_0001':
      return t(`${unit} RFID board error`, `${unit} RFID 板错误`);
    case '3|0002_0002':
      return t(`${slot} RFID tag is damaged or unreadable`, `${zhSlot} RFID 标签损坏或无法识别`);
    case '3|0003_0003':
      return t(`${slot} RFID cannot be read`, `${zhSlot} RFID 无法读取`);
    case '5|0002_0001':
      return s === 0 ? t(`${unit} communication is abnormal: check the cable`, `${unit} 通信异常：请检查连接线`) : null;
    case '6|0002_0001':
      return t(`${slot} overloaded: filament may be tangled or the spool stuck`, `${zhSlot} 过载：耗材可能缠绕或料盘卡住`);
    case '7|0001_0001':
      return t(`${slot} filament odometry error`, `${zhSlot} 耗材里程计错误`);
    case '8|0002_0001':
      return t(`${slot} filament may be tangled or stuck`, `${zhSlot} 耗材可能缠绕或卡住`);
    case '0|0001_0001':
      return s === 1 ? t(`${unit} assist motor slipped`, `${unit} 辅助电机打滑`) : null;
    case '0|0002_0002':
      return s <= 1 ? t(`${unit} filament may be tangled`, `${unit} 耗材可能缠绕`) : null;
    case '4|0002_0001':
      return s <= 1 ? t(`${unit} filament buffer or hub signal abnormal`, `${unit} 缓冲器或分线器信号异常`) : null;
    default:
      return null;
  }
}

/** The text Bambu shows for this HMS code, or null when the code is not in Bambu's list. */
export function hmsCatalogText(full: string): HmsText | null {
  const key = full.toUpperCase();
  return FIXED[key] ?? amsText(key);
}
