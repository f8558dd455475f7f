"""Names of the codes the service uses, in Chinese and English, for pages and notification texts:
a person reads 撤回待决 Withdrawal pending, never `withdrawal_pending`."""
from __future__ import annotations

# Labels: (Chinese, English).
LABELS = {
    "kind": {"check": ("合规检查", "Check"), "case_event": ("案件事件", "Case event"),
             "event_refused": ("事件被拒", "Event refused"), "ruleset_change": ("规则集变更", "Rule-set change"),
             "access_refused": ("拒绝访问", "Access refused")},
    "verdict": {"deny": ("禁止", "Deny"), "warn": ("警示", "Warn"), "allow": ("允许", "Allow"),
                "obligation": ("义务", "Obligation"), "none": ("不触发", "Does not fire")},
    "family": {"labor_law": ("劳动法律法规", "Labor law"), "process": ("公司流程", "Company process")},
    "process_type": {"resignation": ("辞职", "Resignation"),
                     "employer_termination": ("用人单位解除", "Employer termination"),
                     "mutual_agreement": ("协商一致解除", "Mutual agreement"),
                     "non_renewal": ("期满不续签", "Non-renewal"), "check": ("单次检查", "Single check")},
    "event_type": {"resignation_submitted": ("提交辞职", "Resignation submitted"),
                   "resignation_approved": ("批准辞职", "Resignation approved"),
                   "resignation_rejected": ("驳回辞职", "Resignation rejected"),
                   "withdrawal_requested": ("申请撤回辞职", "Withdrawal requested"),
                   "withdrawal_accepted": ("同意撤回", "Withdrawal accepted"),
                   "withdrawal_rejected": ("拒绝撤回", "Withdrawal rejected"),
                   "offboarding_started": ("开始离职办理", "Offboarding started"),
                   "offboarding_completed": ("完成离职办理", "Offboarding completed"),
                   "archived": ("归档", "Archived")},
    "action_type": {"submit_resignation": ("提交辞职", "Submit resignation"),
                    "withdraw_resignation": ("撤回辞职", "Withdraw resignation"),
                    "approve_resignation": ("批准辞职", "Approve resignation"),
                    "approve_withdrawal": ("同意撤回辞职", "Approve withdrawal"),
                    "reject_withdrawal": ("拒绝撤回辞职", "Reject withdrawal"),
                    "accept_resignation": ("接受辞职", "Accept resignation"),
                    "execute_offboarding": ("执行离职", "Execute offboarding"),
                    "terminate_for_cause": ("过失性解除（第三十九条）", "Terminate for cause (Art. 39)"),
                    "terminate_with_notice": ("无过失性解除（第四十条）", "Terminate with notice (Art. 40)"),
                    "terminate_economic_layoff": ("经济性裁员（第四十一条）", "Economic layoff (Art. 41)"),
                    "non_renewal_at_expiry": ("期满不续签", "Non-renewal at expiry"),
                    "mutual_agreement_termination": ("协商解除（第三十六条）", "Mutual agreement (Art. 36)"),
                    "update_employment_status": ("变更在职状态", "Update employment status"),
                    "edit_employee_record": ("编辑员工档案", "Edit employee record"),
                    "review_case": ("审阅案件", "Review case")},
    "status": {"open": ("未决", "Open"), "submitted": ("已提交辞职", "Resignation submitted"),
               "approved": ("辞职已批准", "Resignation approved"), "rejected": ("辞职被驳回", "Resignation rejected"),
               "withdrawal_pending": ("撤回待决", "Withdrawal pending"), "withdrawn": ("已撤回辞职", "Withdrawn"),
               "offboarding": ("离职办理中", "Offboarding"), "offboarded": ("已离职", "Offboarded"),
               "archived": ("已归档", "Archived"), "requested": ("已申请", "Requested"),
               "accepted": ("已同意", "Accepted"), "none": ("无", "None")},
    "role": {"employee": ("员工", "Employee"), "manager": ("经理", "Manager"), "hr": ("人力资源", "HR"),
             "hr_admin": ("人力资源管理员", "HR admin"), "system": ("系统", "System")},
    "form": {"written": ("书面", "Written"), "verbal": ("口头", "Verbal"), "email": ("电子邮件", "Email"),
             "system": ("系统", "System")},
    "citation_role": {"basis": ("依据", "Basis"), "consequence": ("法律后果", "Consequence"),
                      "definition": ("定义", "Definition")},
}


def label(table: str, code: str | None, language: str) -> str:
    """The code's name in `language` (zh or en); an unknown code as itself."""
    if code is None:
        return "—"
    names = LABELS.get(table, {}).get(code)
    return code if names is None else names[0 if language == "zh" else 1]
