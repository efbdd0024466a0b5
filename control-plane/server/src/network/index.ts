export {
  networkRules,
  ROLES,
  type NetworkRule,
  type PortRange,
  type NetworkRole,
} from "./rules.js";
export { formatRules, type RulesFormat } from "./formats.js";
