"""The shipped classification policy: the qualifications and the tier
presets of the rulebooks, as data (doc/policy.md#tiers-and-evaluation)."""
from decimal import Decimal

# The shipped qualifications (code, English, Chinese), one set per company
QUALIFICATIONS = [
    ('designated_strategic', "Designated Strategic by Management",
        "管理层指定的战略合作客户"),
    ('long_term_cooperation', "Long-Term Cooperation in Important Fields",
        "在重要项目或领域长期合作"),
    ('major_impact', "Major (Potential) Impact on the Business",
        "对公司业务有重大或潜在影响"),
    ('specific_projects', "Cooperation on Specific Projects or Fields",
        "在特定项目或领域合作"),
    ('large_contribution', "Large (Potential) Contribution",
        "有较大贡献或潜在贡献"),
    ]


def _measure(measure, operator, value):
    return {'kind': 'measure', 'measure': measure, 'operator': operator,
        'value': Decimal(value)}


def _standing(level):
    return {'kind': 'standing', 'standing': level}


def _qualification(code):
    return {'kind': 'qualification', 'qualification': code}


# The tier presets, highest first: (code, English, Chinese, combination,
# criteria, prospects, in the status report, review months). A preset
# deactivates the company's other tiers.
PRESETS = {
    # the elevator-parts rulebook, 002 section 4.1 [S2-86..S2-90]
    'elevator': [
        ('strategic', "Strategic", "战略客户", 'any',
            [_qualification('designated_strategic')], False, True, 6),
        ('key', "Key", "重点客户", 'all',
            [_measure('revenue', '>=', 20000000), _standing('leading')],
            False, True, 6),
        ('major', "Major", "主要客户", 'all',
            [_measure('revenue', '>=', 5000000), _standing('medium')],
            False, False, 12),
        ('general', "General", "一般客户", 'all', [], False, False, 12),
        ('potential', "Potential", "潜在客户", 'all', [], True, False, 12),
        ],
    # the share rulebook, 002 article 5 [S2-32..S2-34]
    'share': [
        ('strategic', "Strategic Partner", "战略合作伙伴", 'any',
            [_measure('revenue_share', '>', 5),
                _qualification('long_term_cooperation'),
                _qualification('major_impact')], False, True, 6),
        ('key', "Key", "重点客户", 'any',
            [_measure('revenue_share', '>', 3),
                _qualification('specific_projects'),
                _qualification('large_contribution')], False, True, 6),
        ('general', "General", "一般客户", 'all', [], False, False, 12),
        ('potential', "Potential", "潜在客户", 'all', [], True, False, 12),
        ],
    }
PRESET_NAMES = [
    ('elevator', "Elevator-Parts Rulebook"),
    ('share', "Share Rulebook"),
    ]
DEFAULT_PRESET = 'elevator'

